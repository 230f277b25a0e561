#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "k8s/kubeconfig.h"
#include "k8s/kubeconfig_internal.h"

/* Resolving one context out of one or more parsed kubeconfig files (see kubeconfig.h for the rules). */

/* Field access with errors that name the file and the field path. */
struct rctx {
	struct kc_doc *doc;
	char *err;
	size_t errlen;
	char where[96];  /* "users[2].user" */
};

static int fail(struct rctx *c, const char *field, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%.200s: %s%s%.60s: %s", c->doc->name, c->where, field && *c->where ? "." : "",
		 field ? field : "", msg);
	return -1;
}

/* Copies an optional string field into *out; -1 if it is there but not a string. */
static int get_str(struct rctx *c, yaml_node_t *map, const char *key, char **out)
{
	yaml_node_t *n = kc_map_get(&c->doc->doc, map, key);

	*out = NULL;
	if (!n)
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, key, "expected a string");
	const char *v = kc_scalar(n);
	if (v && !(*out = strdup(v)))
		return fail(c, key, "out of memory");
	return 0;
}

static int get_bool(struct rctx *c, yaml_node_t *map, const char *key, int *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
	yaml_node_t *n = kc_map_get(&c->doc->doc, map, key);
	const char *v = kc_scalar(n);

	*out = 0;
	if (!n || !v)
		return n && n->type != YAML_SCALAR_NODE ? fail(c, key, "expected true or false") : 0;
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return fail(c, key, "expected true or false, not \"%.40s\"", v);
}

/* "NAME-data" (base64) wins over "NAME" (a file). */
static int get_pem(struct rctx *c, yaml_node_t *map, const char *key, char **pem, size_t *len)
{
	char data_key[64], *b64 = NULL, *path = NULL;

	snprintf(data_key, sizeof data_key, "%s-data", key);
	*pem = NULL;
	*len = 0;
	if (get_str(c, map, data_key, &b64) || get_str(c, map, key, &path))
		goto bad;
	if (b64) {
		if (!(*pem = kubeconfig_base64_decode(b64, strlen(b64), len)) || *len == 0) {
			fail(c, data_key, "not valid base64");
			goto bad;
		}
	} else if (path) {
		char msg[256];
		if (!(*pem = kc_read_file(path, c->doc->dir, KC_MAX_FILE, len, msg, sizeof msg))) {
			fail(c, key, "%s", msg);
			goto bad;
		}
	}
	free(b64);
	free(path);
	return 0;
bad:
	free(b64);
	free(path);
	return -1;
}

/* The first entry named name in LIST (clusters/users/contexts) over all files; sets c->doc and where. */
static yaml_node_t *find_named(struct kc_doc *docs, size_t n, const char *list, const char *inner, const char *name,
			       struct rctx *c)
{
	for (size_t f = 0; f < n; f++) {
		yaml_document_t *d = &docs[f].doc;
		yaml_node_t *seq = kc_map_get(d, yaml_document_get_root_node(d), list);
		if (!seq || seq->type != YAML_SEQUENCE_NODE)
			continue;
		for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
			yaml_node_t *e = yaml_document_get_node(d, *it);
			const char *en = kc_scalar(kc_map_get(d, e, "name"));
			if (en && strcmp(en, name) == 0) {
				c->doc = &docs[f];
				snprintf(c->where, sizeof c->where, "%s[%d].%s", list,
					 (int)(it - seq->data.sequence.items.start), inner);
				yaml_node_t *body = kc_map_get(d, e, inner);
				return body ? body : e; /* an entry without its map has no fields */
			}
		}
	}
	return NULL;
}

/* The names of the contexts in every file, "a, b, c" into buf (what a wrong --context is told to choose from). */
static void context_names(struct kc_doc *docs, size_t n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t f = 0; f < n; f++) {
		yaml_document_t *d = &docs[f].doc;
		yaml_node_t *seq = kc_map_get(d, yaml_document_get_root_node(d), "contexts");
		if (!seq || seq->type != YAML_SEQUENCE_NODE)
			continue;
		for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
			const char *en = kc_scalar(kc_map_get(d, yaml_document_get_node(d, *it), "name"));
			int w = en ? snprintf(buf + used, size - used, "%s%s", used ? ", " : "", en) : 0;
			if (w < 0 || (size_t)w >= size - used)
				return; /* full: the names that fit */
			used += (size_t)w;
		}
	}
}

static int resolve_cluster(struct rctx *c, yaml_node_t *m, struct kubeconfig *kc)
{
	if (m->type != YAML_MAPPING_NODE)
		return fail(c, NULL, "expected a mapping");
	if (get_str(c, m, "server", &kc->server) || get_str(c, m, "tls-server-name", &kc->tls_server_name) ||
	    get_str(c, m, "proxy-url", &kc->proxy_url) || get_bool(c, m, "insecure-skip-tls-verify", &kc->insecure) ||
	    get_str(c, m, "certificate-authority-data", &kc->ca_data_b64) ||
	    get_pem(c, m, "certificate-authority", &kc->ca_pem, &kc->ca_len))
		return -1;
	if (!kc->server)
		return fail(c, "server", "missing");
	if (strncmp(kc->server, "https://", 8) != 0 && strncmp(kc->server, "http://", 7) != 0)
		return fail(c, "server", "\"%.80s\" is not an http(s) URL", kc->server);
	if (kc->insecure && kc->ca_pem)
		return fail(c, "insecure-skip-tls-verify",
			    "specifying a root certificates file with the insecure flag is not allowed");
	return 0;
}

static int get_str_list(struct rctx *c, yaml_node_t *map, const char *key, int env, char ***out, size_t *n)
{
	yaml_document_t *d = &c->doc->doc;
	yaml_node_t *seq = kc_map_get(d, map, key);

	*out = NULL;
	*n = 0;
	if (!seq || (seq->type == YAML_SCALAR_NODE && !kc_scalar(seq)))
		return 0;
	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, key, "expected a list");
	size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (!(*out = calloc(count + 1, sizeof **out)))
		return fail(c, key, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = yaml_document_get_node(d, seq->data.sequence.items.start[i]);
		const char *v = env ? kc_scalar(kc_map_get(d, e, "name")) : kc_scalar(e);
		const char *val = env ? kc_scalar(kc_map_get(d, e, "value")) : "";
		if (!v)
			return fail(c, key, "entry %zu: expected %s", i, env ? "{name:, value:}" : "a string");
		size_t len = strlen(v) + strlen(val ? val : "") + 2;
		if (!((*out)[i] = malloc(len)))
			return fail(c, key, "out of memory");
		snprintf((*out)[i], len, env ? "%s=%s" : "%s%s", v, val ? val : "");
		*n = i + 1;
	}
	return 0;
}

static int resolve_exec(struct rctx *c, yaml_node_t *m, struct kubeconfig *kc)
{
	struct kc_exec *e = calloc(1, sizeof *e);
	size_t wl = strlen(c->where);

	if (!e)
		return fail(c, "exec", "out of memory");
	kc->exec = e;
	snprintf(c->where + wl, sizeof c->where - wl, ".exec");
	if (m->type != YAML_MAPPING_NODE)
		return fail(c, NULL, "expected a mapping");
	if (get_str(c, m, "command", &e->command) || get_str(c, m, "apiVersion", &e->api_version) ||
	    get_str(c, m, "interactiveMode", &e->interactive_mode) || get_str(c, m, "installHint", &e->install_hint) ||
	    get_bool(c, m, "provideClusterInfo", &e->provide_cluster_info) ||
	    get_str_list(c, m, "args", 0, &e->args, &e->nargs) || get_str_list(c, m, "env", 1, &e->env, &e->nenv))
		return -1;
	if (!e->command)
		return fail(c, "command", "missing");
	if (!e->api_version || (strcmp(e->api_version, "client.authentication.k8s.io/v1") != 0 &&
				strcmp(e->api_version, "client.authentication.k8s.io/v1beta1") != 0))
		return fail(c, "apiVersion", "exec plugin: invalid apiVersion \"%.60s\"",
			    e->api_version ? e->api_version : "");
	e->dir = kc_strdup(c->doc->dir);
	c->where[wl] = '\0';
	return 0;
}

static int resolve_user(struct rctx *c, yaml_node_t *m, struct kubeconfig *kc)
{
	yaml_node_t *exec;

	if (m->type != YAML_MAPPING_NODE)
		return fail(c, NULL, "expected a mapping");
	if (get_str(c, m, "token", &kc->token) || get_str(c, m, "tokenFile", &kc->token_file) ||
	    get_str(c, m, "username", &kc->username) || get_str(c, m, "password", &kc->password) ||
	    get_pem(c, m, "client-certificate", &kc->cert_pem, &kc->cert_len) ||
	    get_pem(c, m, "client-key", &kc->key_pem, &kc->key_len))
		return -1;
	if (kc->token_file && kc->token_file[0] != '/') {
		char *abs = kc_join(c->doc->dir, kc->token_file);
		free(kc->token_file);
		kc->token_file = abs;
	}
	if (kc->cert_pem && !kc->key_pem)
		return fail(c, "client-key", "client-certificate is set but client-key is not");
	if (kc->key_pem && !kc->cert_pem)
		return fail(c, "client-certificate", "client-key is set but client-certificate is not");
	if ((kc->token || kc->token_file) && kc->username)
		return fail(c, NULL, "more than one authentication method found (token and username/password)");
	if (kc_map_get(&c->doc->doc, m, "auth-provider"))
		return fail(c, "auth-provider", "auth providers are not supported; use an exec plugin");
	if ((exec = kc_map_get(&c->doc->doc, m, "exec")) && exec->type != YAML_SCALAR_NODE)
		return resolve_exec(c, exec, kc);
	return 0;
}

static const char *current_context(struct kc_doc *docs, size_t n, struct rctx *c)
{
	for (size_t f = 0; f < n; f++) {
		yaml_document_t *d = &docs[f].doc;
		const char *v = kc_scalar(kc_map_get(d, yaml_document_get_root_node(d), "current-context"));
		if (v && *v) {
			c->doc = &docs[f];
			return v;
		}
	}
	return NULL;
}

static int check_root(struct kc_doc *docs, size_t n, struct rctx *c)
{
	for (size_t f = 0; f < n; f++) {
		yaml_node_t *root = yaml_document_get_root_node(&docs[f].doc);
		if (root && root->type != YAML_MAPPING_NODE) {
			c->doc = &docs[f];
			return fail(c, NULL, "not a kubeconfig (expected a mapping at the top)");
		}
	}
	return 0;
}

int kc_resolve(struct kc_doc *docs, size_t n, const char *context, struct kubeconfig *kc, char *err, size_t errlen)
{
	struct rctx c = {docs, err, errlen, ""};
	yaml_node_t *ctx, *m;
	char *cluster = NULL, *user = NULL;

	memset(kc, 0, sizeof *kc);
	if (check_root(docs, n, &c))
		return -1;
	if (!context && !(context = current_context(docs, n, &c))) {
		snprintf(err, errlen, "%.200s: current-context is not set and no --context was given", docs[0].name);
		return -1;
	}
	if (!(ctx = find_named(docs, n, "contexts", "context", context, &c))) {
		char names[256];
		context_names(docs, n, names, sizeof names);
		snprintf(err, errlen, "%.200s%s: context \"%.100s\" not found (%s%.256s)", docs[0].name,
			 n > 1 ? " (and others)" : "", context, names[0] ? "its contexts: " : "it has no context",
			 names);
		return -1;
	}
	kc->context = strdup(context);
	kc->source = strdup(c.doc->name);
	if (get_str(&c, ctx, "cluster", &cluster) || get_str(&c, ctx, "user", &user) ||
	    get_str(&c, ctx, "namespace", &kc->namespace))
		goto bad;
	kc->cluster = cluster;
	kc->user = user;
	if (!cluster) {
		fail(&c, "cluster", "missing");
		goto bad;
	}
	struct rctx cc = c;
	if (!(m = find_named(docs, n, "clusters", "cluster", cluster, &cc))) {
		fail(&c, "cluster", "cluster \"%.100s\" not found", cluster);
		goto bad;
	}
	if (resolve_cluster(&cc, m, kc))
		goto bad;
	if (user && *user) {
		struct rctx uc = c;
		if (!(m = find_named(docs, n, "users", "user", user, &uc))) {
			fail(&c, "user", "user \"%.100s\" not found", user);
			goto bad;
		}
		if (resolve_user(&uc, m, kc))
			goto bad;
	}
	return 0;
bad:
	kubeconfig_free(kc);
	return -1;
}

int kubeconfig_parse(const char *text, size_t len, const char *name, const char *dir, const char *context,
		     struct kubeconfig *kc, char *err, size_t errlen)
{
	struct kc_doc d;
	int rc = -1;

	memset(&d, 0, sizeof d);
	d.name = strdup(name);
	d.dir = strdup(dir ? dir : ".");

	memset(kc, 0, sizeof *kc);
	if (d.name && d.dir && kc_doc_parse(&d, text, len, err, errlen) == 0) {
		if (!yaml_document_get_root_node(&d.doc))
			snprintf(err, errlen, "%.200s: empty", name);
		else
			rc = kc_resolve(&d, 1, context, kc, err, errlen);
	}
	kc_doc_free(&d);
	return rc;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void free_secret(char *s, size_t len)
{
	if (s) {
		memset(s, 0, len ? len : strlen(s));
		free(s);
	}
}

void kubeconfig_free(struct kubeconfig *kc)
{
	free(kc->source);
	free(kc->context);
	free(kc->cluster);
	free(kc->user);
	free(kc->namespace);
	free(kc->server);
	free(kc->tls_server_name);
	free(kc->proxy_url);
	free(kc->ca_pem);
	free(kc->ca_data_b64);
	free(kc->cert_pem);
	free_secret(kc->key_pem, kc->key_len);
	free_secret(kc->token, 0);
	free(kc->token_file);
	free(kc->username);
	free_secret(kc->password, 0);
	if (kc->exec) {
		free(kc->exec->command);
		free_list(kc->exec->args, kc->exec->nargs);
		free_list(kc->exec->env, kc->exec->nenv);
		free(kc->exec->api_version);
		free(kc->exec->interactive_mode);
		free(kc->exec->install_hint);
		free(kc->exec->dir);
		free(kc->exec);
	}
	memset(kc, 0, sizeof *kc);
}

char *kubeconfig_base64_decode(const char *s, size_t len, size_t *outlen)
{
	unsigned acc = 0;
	int bits = 0, pad = 0;
	char *out = malloc(len / 4 * 3 + 4), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		int v;
		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad; /* data after padding */
		if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
		else if (ch == '+' || ch == '-') v = 62;
		else if (ch == '/' || ch == '_') v = 63;
		else goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
bad:
	free(out);
	return NULL;
}
