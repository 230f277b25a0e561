#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/crypto_lazy.h"
#include "k8s/k8s_internal.h"
#include "k8s/kubeconfig_doc.h"

/* Credentials for a client: a static token, a token file (re-read after a 401, as client-go does for
 * bound service-account tokens), basic auth, client certificates, or an exec plugin whose credential is
 * cached until its expiry and refreshed after a 401. Secrets stay in C; Lua never sees them. */

static void set_auth(struct k8s_client *c, char *value)
{
	if (c->auth) {
		memset(c->auth, 0, strlen(c->auth));
		free(c->auth);
	}
	c->auth = value;
}

static char *bearer(const char *token)
{
	size_t n = strlen(token) + 8;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "Bearer %s", token);
	return s;
}

/* "Basic base64(user:pass)", or NULL with err filled (out of memory, or libcrypto could not be loaded). */
static char *basic(const char *user, const char *pass, char *err, size_t errlen)
{
	size_t n = strlen(user) + strlen(pass) + 2, m = 4 * (n / 3 + 1) + 8;
	char *plain = malloc(n), *s = malloc(m);
	const char *why = "out of memory";

	if (plain && s) {
		snprintf(plain, n, "%s:%s", user, pass);
		memcpy(s, "Basic ", 6);
		if (EVP_EncodeBlock((unsigned char *)s + 6, (unsigned char *)plain, (int)strlen(plain)) > 0)
			why = NULL;
		else if (medic_crypto_error())
			why = medic_crypto_error();
		memset(plain, 0, n);
	}
	free(plain);
	if (why) {
		snprintf(err, errlen, "basic auth: %s", why);
		free(s);
		return NULL;
	}
	return s;
}

struct http_client *k8s_http_new(struct k8s_client *c, char *err, size_t errlen)
{
	struct http_client_opts o = c->opts;
	const struct kubeconfig *kc = &c->kc;
	int use_cred = c->have_cred && c->cred.cert_pem;

	o.tls.ca_pem = kc->ca_pem;
	o.tls.ca_len = kc->ca_len;
	o.tls.cert_pem = use_cred ? c->cred.cert_pem : kc->cert_pem;
	o.tls.cert_len = use_cred ? strlen(c->cred.cert_pem) : kc->cert_len;
	o.tls.key_pem = use_cred ? c->cred.key_pem : kc->key_pem;
	o.tls.key_len = use_cred ? strlen(c->cred.key_pem) : kc->key_len;
	o.tls.insecure = kc->insecure;
	o.tls.server_name = kc->tls_server_name;
	o.proxy = kc->proxy_url;
	return http_client_new(&o, err, errlen);
}

static int rebuild_http(struct k8s_client *c, char *err, size_t errlen)
{
	http_client_free(c->http);
	c->http = k8s_http_new(c, err, errlen);
	return c->http ? 0 : -1;
}

static int run_plugin(struct k8s_client *c, char *err, size_t errlen)
{
	struct kc_credential cred;
	int had_cert = c->have_cred && c->cred.cert_pem;

	if (kubeconfig_exec_run(&c->kc, &cred, err, errlen) != 0)
		return -1;
	if (c->have_cred)
		kubeconfig_credential_free(&c->cred);
	c->cred = cred;
	c->have_cred = 1;
	set_auth(c, cred.token ? bearer(cred.token) : NULL);
	return (had_cert || cred.cert_pem || !c->http) ? rebuild_http(c, err, errlen) : 0;
}

static int read_token_file(struct k8s_client *c, int force, char *err, size_t errlen)
{
	size_t len;
	char msg[256], *tok = kc_read_file(c->kc.token_file, NULL, 1 << 20, &len, msg, sizeof msg);

	if (!tok) {
		snprintf(err, errlen, "%.200s: tokenFile: %s", c->kc.source, msg);
		return -1;
	}
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
		tok[--len] = '\0';
	char *value = bearer(tok);
	memset(tok, 0, len);
	free(tok);
	int same = value && c->auth && strcmp(value, c->auth) == 0;
	set_auth(c, value);
	return force && same ? 1 : 0;
}

int k8s_auth_prepare(struct k8s_client *c, int force, char *err, size_t errlen)
{
	const struct kubeconfig *kc = &c->kc;

	if (c->busy && c->http)
		return force ? 1 : 0; /* a nested request must not swap the client under the running transfer */
	if (kc->exec) {
		int expired = c->have_cred && c->cred.expiry && time(NULL) + 10 >= c->cred.expiry;
		if (force || !c->have_cred || expired)
			return run_plugin(c, err, errlen);
		return 0;
	}
	if (!c->http && rebuild_http(c, err, errlen) != 0)
		return -1;
	if (kc->token_file && (force || (!kc->token && !c->auth)))
		return read_token_file(c, force, err, errlen);
	if (!c->auth && kc->token)
		set_auth(c, bearer(kc->token));
	else if (!c->auth && kc->username) {
		char *value = basic(kc->username, kc->password ? kc->password : "", err, errlen);
		if (!value)
			return -1;
		set_auth(c, value);
	}
	return force ? 1 : 0;
}

void k8s_auth_free(struct k8s_client *c)
{
	set_auth(c, NULL);
	if (c->have_cred)
		kubeconfig_credential_free(&c->cred);
	c->have_cred = 0;
	http_client_free(c->http);
	c->http = NULL;
}

const char *k8s_auth_kind(const struct k8s_client *c)
{
	if (c->kc.exec)
		return "exec";
	if (c->kc.token || c->kc.token_file)
		return "token";
	if (c->kc.cert_pem)
		return "client-certificate";
	if (c->kc.username)
		return "basic";
	return "none";
}
