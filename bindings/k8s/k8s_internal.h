#ifndef MEDIC_K8S_INTERNAL_H
#define MEDIC_K8S_INTERNAL_H
#include <lua.h>
#include "base/http.h"
#include "k8s/kubeconfig.h"

/* Shared by k8s.c, k8s_auth.c and k8s_exec.c only. */
#define K8S_CLIENT_MT "medic.k8s.client"

struct k8s_client {
	struct kubeconfig kc;
	struct http_client_opts opts;   /* timeouts and limits; TLS filled from kc and cred */
	struct http_client *http;
	struct kc_credential cred;      /* from the exec plugin */
	int have_cred;
	char *auth;                     /* the Authorization header value, or NULL */
	char *base;                     /* server URL without a trailing slash */
	int closed;
	int busy;                       /* a transfer is running (a watch callback may start another) */
};

/* Makes sure c->http and c->auth are current (runs the exec plugin when the credential is missing or
 * expired); force: after a 401, refresh what can be refreshed. Returns 0, 1 when nothing could be
 * refreshed (force only), or -1 with err. */
int k8s_auth_prepare(struct k8s_client *c, int force, char *err, size_t errlen);
/* A new HTTP client with c's TLS settings and current credential (for a request made while c->http is
 * busy streaming, e.g. from a watch callback). */
struct http_client *k8s_http_new(struct k8s_client *c, char *err, size_t errlen);
void k8s_auth_free(struct k8s_client *c);
const char *k8s_auth_kind(const struct k8s_client *c);

/* Appends path (each segment percent-encoded, '/' kept; anything after '?' as is) to c->base, then the
 * query table at index qidx (keys sorted; a list value repeats the key). Pushes the URL; raises on misuse,
 * before any memory is owned by C. */
void k8s_push_url(lua_State *L, struct k8s_client *c, const char *path, int qidx);

/* client:exec{...}: see k8s_exec.c. */
int k8s_exec(lua_State *L);

#endif
