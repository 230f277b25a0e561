#ifndef MEDIC_STATE_H
#define MEDIC_STATE_H
#include <lua.h>

#define MEDIC_VERSION "0.1.0"
/* The script API version this host provides; scripts say which one they were written for
 * (a first line "-- etcd-medic-api: N"). */
#define MEDIC_API_VERSION 1

/* Global options, parsed by main and handed to scripts as require "medic.options". */
struct medic_options {
	const char *kubeconfig, *context, *namespace;
	const char *etcd_endpoints, *etcd_cacert, *etcd_cert, *etcd_key;
	const char *log_json;
	const char *script_path[8];
	int nscript_path;
	int verbose, no_color;
};

lua_State *medic_state_new(const struct medic_options *opts);
/* Calls the function below narg arguments with a traceback handler; returns the lua_pcall status. */
int medic_docall(lua_State *L, int narg, int nres);

#endif
