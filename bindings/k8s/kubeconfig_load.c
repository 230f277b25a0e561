#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "k8s/kubeconfig.h"
#include "k8s/kubeconfig_internal.h"

/* Which files make up the configuration ($KUBECONFIG, --kubeconfig, ~/.kube/config, in-cluster). */

#define MAX_FILES 32
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Parses path into docs[*n]; a missing file is skipped when optional. */
static int add_file(struct kc_doc *docs, size_t *n, const char *path, int optional, char *err, size_t errlen)
{
	size_t len;
	char *text;
	struct stat st;

	for (size_t i = 0; i < *n; i++)
		if (strcmp(docs[i].name, path) == 0)
			return 0; /* duplicates are ignored */
	if (optional && stat(path, &st) != 0 && errno == ENOENT)
		return 0;
	if (*n == MAX_FILES) {
		snprintf(err, errlen, "more than %d kubeconfig files", MAX_FILES);
		return -1;
	}
	if (!(text = kc_read_file(path, NULL, KC_MAX_FILE, &len, err, errlen)))
		return -1;
	struct kc_doc *d = &docs[*n];
	d->name = strdup(path);
	d->dir = dir_of(path);
	int rc = d->name && d->dir ? kc_doc_parse(d, text, len, err, errlen) : -1;
	free(text);
	if (rc != 0) {
		kc_doc_free(d);
		return -1;
	}
	if (!yaml_document_get_root_node(&d->doc)) {
		kc_doc_free(d); /* an empty file contributes nothing */
		return 0;
	}
	(*n)++;
	return 0;
}

static int add_env_list(struct kc_doc *docs, size_t *n, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return -1;
	for (char *p = strtok_r(copy, ":", &save); p && rc == 0; p = strtok_r(NULL, ":", &save))
		rc = add_file(docs, n, p, 1, err, errlen);
	free(copy);
	return rc;
}

static int in_cluster_env(void)
{
	const char *h = getenv("KUBERNETES_SERVICE_HOST"), *p = getenv("KUBERNETES_SERVICE_PORT");
	return h && *h && p && *p;
}

int kubeconfig_load(const struct kubeconfig_source *src, struct kubeconfig *kc, char *err, size_t errlen)
{
	struct kc_doc docs[MAX_FILES];
	size_t n = 0;
	int rc = -1;
	char home_config[1024];

	memset(docs, 0, sizeof docs);
	memset(kc, 0, sizeof *kc);
	if (src->explicit_path && *src->explicit_path)
		rc = add_file(docs, &n, src->explicit_path, 0, err, errlen);
	else if (src->env && *src->env)
		rc = add_env_list(docs, &n, src->env, err, errlen);
	else if (src->home && *src->home) {
		snprintf(home_config, sizeof home_config, "%s/.kube/config", src->home);
		rc = add_file(docs, &n, home_config, 1, err, errlen);
	} else
		rc = 0;
	if (rc == 0 && n > 0)
		rc = kc_resolve(docs, n, src->context, kc, err, errlen);
	else if (rc == 0 && src->in_cluster_root && in_cluster_env())
		rc = kubeconfig_in_cluster(src->in_cluster_root, kc, err, errlen);
	else if (rc == 0 && src->env && *src->env && !(src->explicit_path && *src->explicit_path)) {
		const char *what = strchr(src->env, ':') ? "none of its files exists" : "no such file";
		snprintf(err, errlen, "KUBECONFIG=%.300s: %s (pass --kubeconfig FILE, or set KUBECONFIG to the "
			 "kubeconfig's path)", src->env, what);
		rc = -1;
	} else if (rc == 0) {
		snprintf(err, errlen, "no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create "
			 "~/.kube/config");
		rc = -1;
	}
	for (size_t i = 0; i < n; i++)
		kc_doc_free(&docs[i]);
	return rc;
}

static char *trim(char *s)
{
	size_t n = s ? strlen(s) : 0;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

int kubeconfig_in_cluster(const char *root, struct kubeconfig *kc, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char dir[512], msg[256];
	size_t len = 0;

	memset(kc, 0, sizeof *kc);
	if (!host || !*host || !port || !*port) {
		snprintf(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
		return -1;
	}
	snprintf(dir, sizeof dir, "%s%s", root ? root : "", SA_DIR);
	size_t n = strlen(host) + strlen(port) + 16;
	kc->server = malloc(n);
	if (kc->server)
		snprintf(kc->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
	kc->source = strdup("in-cluster");
	kc->context = strdup("in-cluster");
	kc->token_file = kc_join(dir, "token");
	kc->namespace = trim(kc_read_file("namespace", dir, 4096, &len, msg, sizeof msg));
	if (!(kc->ca_pem = kc_read_file("ca.crt", dir, KC_MAX_FILE, &kc->ca_len, msg, sizeof msg))) {
		snprintf(err, errlen, "in-cluster: %s", msg);
		kubeconfig_free(kc);
		return -1;
	}
	return 0;
}
