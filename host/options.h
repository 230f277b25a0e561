#ifndef MEDIC_OPTIONS_H
#define MEDIC_OPTIONS_H

#define MEDIC_VERSION "0.1.0"
/* The script API version this host provides; scripts say which one they were written for
 * (a first line "-- etcd-medic-api: N"). */
#define MEDIC_API_VERSION 2

/* Global options, parsed by main and handed to scripts as require "medic.options". */
struct medic_options {
	const char *kubeconfig, *context, *namespace;
	const char *etcd_endpoints, *etcd_cacert, *etcd_cert, *etcd_key;
	const char *log_json;
	const char *script_path[8];
	int nscript_path;
	int verbose, no_color;
};

#endif
