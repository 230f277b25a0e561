#ifndef MEDIC_KUBECONFIG_H
#define MEDIC_KUBECONFIG_H
#include <stddef.h>
#include <time.h>

/* kubeconfig files (libyaml), resolved to the one context a client uses; no Lua in this interface.
 * Loading follows client-go's clientcmd: an explicit --kubeconfig file (must exist), else the $KUBECONFIG
 * list (':'-separated, duplicates, empty entries and missing files ignored), else ~/.kube/config; the
 * first file that sets a value wins (current-context, and each named cluster/user/context as a whole);
 * relative paths resolve against the directory of the file that holds them. Errors name the file and
 * the field ("FILE: users[0].user.client-key: cannot read ...: No such file or directory"). */

struct kc_exec {                  /* users[].user.exec: a credential plugin */
	char *command;
	char **args;                  /* nargs entries */
	size_t nargs;
	char **env;                   /* "NAME=value" entries */
	size_t nenv;
	char *api_version;            /* client.authentication.k8s.io/v1 or /v1beta1 */
	char *interactive_mode;       /* Never, IfAvailable, Always */
	char *install_hint;
	int provide_cluster_info;
	char *dir;                    /* directory of the kubeconfig that holds it (a relative command runs there) */
};

struct kubeconfig {
	char *source;                 /* the file the context came from, or "in-cluster" */
	char *context, *cluster, *user, *namespace;  /* names; namespace may be NULL */
	char *server;
	char *tls_server_name, *proxy_url;
	int insecure;
	char *ca_pem;                 /* from certificate-authority(-data), or NULL: the system store */
	size_t ca_len;
	char *ca_data_b64;            /* the CA as base64, for an exec plugin's cluster info, or NULL */
	char *cert_pem, *key_pem;     /* client certificate and key (PEM) or NULL */
	size_t cert_len, key_len;
	char *token;                  /* static bearer token, or NULL */
	char *token_file;             /* re-read on 401, or NULL */
	char *username, *password;    /* basic auth, or NULL */
	struct kc_exec *exec;         /* or NULL */
};

struct kubeconfig_source {
	const char *explicit_path;    /* --kubeconfig or NULL */
	const char *env;              /* $KUBECONFIG or NULL */
	const char *home;             /* $HOME or NULL */
	const char *context;          /* --context or NULL: current-context */
	const char *in_cluster_root;  /* "" normally; a prefix for /var/run/secrets/... in tests; NULL: no in-cluster */
};

/* Fills kc for the selected context. Falls back to the in-cluster service account when no file is found
 * and KUBERNETES_SERVICE_HOST/PORT are set. Returns 0, or -1 with err filled. */
int kubeconfig_load(const struct kubeconfig_source *src, struct kubeconfig *kc, char *err, size_t errlen);

/* One document in memory; name is used in errors and dir for relative paths. */
int kubeconfig_parse(const char *text, size_t len, const char *name, const char *dir, const char *context,
		     struct kubeconfig *kc, char *err, size_t errlen);

/* The in-cluster service account under root ("" for the real /var/run/secrets/...). */
int kubeconfig_in_cluster(const char *root, struct kubeconfig *kc, char *err, size_t errlen);

void kubeconfig_free(struct kubeconfig *kc);

/* A credential from an exec plugin (ExecCredential status). */
struct kc_credential {
	char *token;
	char *cert_pem, *key_pem;
	time_t expiry;                /* 0: none given */
};

/* Runs the plugin (bounded: 60 s, 1 MiB of output) and parses its ExecCredential. */
int kubeconfig_exec_run(const struct kubeconfig *kc, struct kc_credential *cred, char *err, size_t errlen);
/* Parses an ExecCredential document (JSON) as the plugin printed it; api_version is what was asked for. */
int kubeconfig_exec_parse(const char *text, size_t len, const char *api_version, struct kc_credential *cred,
			  char *err, size_t errlen);
void kubeconfig_credential_free(struct kc_credential *cred);

/* Decodes base64 (whitespace ignored) into a new NUL-terminated buffer; NULL on bad input. */
char *kubeconfig_base64_decode(const char *s, size_t len, size_t *outlen);

#endif
