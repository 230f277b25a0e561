#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/errors.h"
#include "base/http.h"
#include "base/log.h"
#include "k8s/k8s_internal.h"
#include "k8s/kubeconfig.h"

/* Lua module "medic.k8s.core": the transport half of medic.k8s. C does kubeconfig, TLS, credentials,
 * URL encoding and the bytes on the wire; scripts/medic/k8s.lua does JSON, Status errors, retries,
 * pagination and watch. Secrets never cross into Lua. */

static struct k8s_client *check_client(lua_State *L)
{
	struct k8s_client *c = luaL_checkudata(L, 1, K8S_CLIENT_MT);
	if (c->closed)
		luaL_error(L, "k8s client is closed");
	return c;
}

static void release(struct k8s_client *c)
{
	if (!c->closed) {
		c->closed = 1;
		k8s_auth_free(c);
		kubeconfig_free(&c->kc);
		free(c->base);
		c->base = NULL;
	}
}

/* client:close(), also __gc and __close: idempotent. */
static int client_close(lua_State *L)
{
	release(luaL_checkudata(L, 1, K8S_CLIENT_MT));
	return 0;
}

static int client_tostring(lua_State *L)
{
	struct k8s_client *c = luaL_checkudata(L, 1, K8S_CLIENT_MT);
	if (c->closed)
		lua_pushliteral(L, "k8s client (closed)");
	else
		lua_pushfstring(L, "k8s client %s (context %s)", c->kc.server, c->kc.context ? c->kc.context : "-");
	return 1;
}

static long opt_ms(lua_State *L, int idx, const char *key)
{
	lua_getfield(L, idx, key);
	double s = lua_isnil(L, -1) ? 0 : luaL_checknumber(L, -1);
	lua_pop(L, 1);
	if (s < 0)
		luaL_error(L, "%s must not be negative", key);
	return (long)(s * 1000);
}

static const char *opt_str(lua_State *L, int idx, const char *key)
{
	lua_getfield(L, idx, key);
	const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
	lua_pop(L, 1); /* the table keeps the string alive */
	return s;
}

/* core.connect{kubeconfig=FILE, kubeconfig_env=$KUBECONFIG, home=$HOME, context=NAME, in_cluster=true,
 *              timeout=SECONDS, connect_timeout=SECONDS, max_body=BYTES}
 * -> client | nil, message, "InvalidConfig" (the message names the file and field). */
static int k8s_connect(lua_State *L)
{
	struct kubeconfig_source src = {0};
	char err[512];

	luaL_checktype(L, 1, LUA_TTABLE);
	src.explicit_path = opt_str(L, 1, "kubeconfig");
	src.env = opt_str(L, 1, "kubeconfig_env");
	src.home = opt_str(L, 1, "home");
	src.context = opt_str(L, 1, "context");
	lua_getfield(L, 1, "in_cluster");
	src.in_cluster_root = lua_toboolean(L, -1) ? "" : NULL;
	lua_pop(L, 1);
	long timeout = opt_ms(L, 1, "timeout"), connect_timeout = opt_ms(L, 1, "connect_timeout");
	lua_getfield(L, 1, "max_body");
	lua_Integer max_body = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
	lua_pop(L, 1);

	struct k8s_client *c = lua_newuserdatauv(L, sizeof *c, 0);
	memset(c, 0, sizeof *c);
	c->closed = 1; /* until it owns something */
	luaL_setmetatable(L, K8S_CLIENT_MT);
	if (kubeconfig_load(&src, &c->kc, err, sizeof err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		lua_pushstring(L, MEDIC_E_INVALID_CONFIG);
		return 3;
	}
	c->closed = 0;
	c->opts.timeout_ms = timeout;
	c->opts.connect_timeout_ms = connect_timeout;
	c->opts.max_body = max_body > 0 ? (size_t)max_body : 0;
	size_t n = strlen(c->kc.server);
	while (n > 0 && c->kc.server[n - 1] == '/')
		n--;
	c->base = strndup(c->kc.server, n);
	if (!c->base || k8s_auth_prepare(c, 0, err, sizeof err) != 0) {
		const char *msg = c->base ? err : "out of memory";
		release(c);
		lua_pushnil(L);
		lua_pushstring(L, msg);
		lua_pushstring(L, MEDIC_E_INVALID_CONFIG);
		return 3;
	}
	return 1;
}

/* client:info() -> {server=, context=, cluster=, user=, namespace=, source=, auth="token"|"exec"|...} */
static int client_info(lua_State *L)
{
	struct k8s_client *c = check_client(L);
	const char *fields[][2] = {{"server", c->kc.server}, {"context", c->kc.context}, {"cluster", c->kc.cluster},
				   {"user", c->kc.user}, {"namespace", c->kc.namespace}, {"source", c->kc.source},
				   {"tls_server_name", c->kc.tls_server_name}, {"auth", k8s_auth_kind(c)}};

	lua_createtable(L, 0, 8);
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		if (fields[i][1]) {
			lua_pushstring(L, fields[i][1]);
			lua_setfield(L, -2, fields[i][0]);
		}
	}
	return 1;
}

/* Appends s (percent-encoded when escape is set) to the string in stack slot acc. */
static void append(lua_State *L, int acc, const char *s, size_t len, int escape)
{
	static const char hex[] = "0123456789ABCDEF";
	luaL_Buffer b;

	lua_pushvalue(L, acc);
	luaL_buffinit(L, &b);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!escape || (ch >= '0' && ch <= '9') || ((ch | 32) >= 'a' && (ch | 32) <= 'z') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			luaL_addchar(&b, (char)ch);
		} else {
			luaL_addchar(&b, '%');
			luaL_addchar(&b, hex[ch >> 4]);
			luaL_addchar(&b, hex[ch & 15]);
		}
	}
	luaL_pushresult(&b);
	lua_concat(L, 2);
	lua_replace(L, acc);
}

static void add_query_value(lua_State *L, int acc, const char *key, int vidx, int *first)
{
	size_t len;
	const char *v;

	if (lua_type(L, vidx) == LUA_TBOOLEAN)
		v = lua_toboolean(L, vidx) ? "true" : "false", len = strlen(v);
	else if (!(v = lua_tolstring(L, vidx, &len)))
		luaL_error(L, "query value for '%s' must be a string, number, boolean or a list of those", key);
	append(L, acc, *first ? "?" : "&", 1, 0);
	*first = 0;
	append(L, acc, key, strlen(key), 1);
	append(L, acc, "=", 1, 0);
	append(L, acc, v, len, 1);
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Query keys in sorted order, so URLs (and logs) are stable. Keys stay alive in the query table. */
static void add_query(lua_State *L, int acc, int qidx, int first)
{
	const char *keys[64];
	size_t n = 0;

	luaL_checktype(L, qidx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, qidx)) {
		if (lua_type(L, -2) != LUA_TSTRING || n == 64)
			luaL_error(L, "query keys must be strings (at most 64)");
		keys[n++] = lua_tostring(L, -2);
		lua_pop(L, 1);
	}
	qsort(keys, n, sizeof *keys, compare_keys);
	for (size_t i = 0; i < n; i++) {
		lua_getfield(L, qidx, keys[i]);
		if (lua_istable(L, -1)) {
			lua_Integer len = luaL_len(L, -1);
			for (lua_Integer j = 1; j <= len; j++) {
				lua_rawgeti(L, -1, j);
				add_query_value(L, acc, keys[i], -1, &first);
				lua_pop(L, 1);
			}
		} else if (!lua_isnil(L, -1)) {
			add_query_value(L, acc, keys[i], -1, &first);
		}
		lua_pop(L, 1);
	}
}

void k8s_push_url(lua_State *L, struct k8s_client *c, const char *path, int qidx)
{
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	int acc;

	if (path[0] != '/')
		luaL_error(L, "API path must start with '/': %s", path);
	if (qidx)
		qidx = lua_absindex(L, qidx);
	lua_pushstring(L, c->base);
	acc = lua_gettop(L);
	for (size_t i = 0; i < plen;) {
		size_t seg = strcspn(path + i + 1, "/?");
		if (seg > plen - i - 1)
			seg = plen - i - 1;
		append(L, acc, "/", 1, 0);
		append(L, acc, path + i + 1, seg, 1);
		i += seg + 1;
	}
	if (q)
		append(L, acc, q, strlen(q), 0);
	if (qidx && !lua_isnil(L, qidx))
		add_query(L, acc, qidx, q == NULL);
}

/* Streaming (watch): each chunk goes to a Lua function under lua_pcall, so an error in it never unwinds
 * through libcurl; it is kept in a stack slot and raised once the transfer is over and freed. */
struct stream {
	lua_State *L;
	int fn, errslot;
	int stopped;
};

static int call_chunk(lua_State *L)
{
	const char *data = lua_touserdata(L, 2);
	lua_Integer len = lua_tointeger(L, 3);

	lua_settop(L, 1);
	lua_pushlstring(L, data, (size_t)len);
	lua_call(L, 1, 1);
	return 1;
}

static int on_chunk(void *ud, const char *data, size_t len)
{
	struct stream *s = ud;
	lua_State *L = s->L;

	lua_pushcfunction(L, call_chunk);
	lua_pushvalue(L, s->fn);
	lua_pushlightuserdata(L, (void *)data);
	lua_pushinteger(L, (lua_Integer)len);
	if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
		lua_replace(L, s->errslot);
		return 1;
	}
	s->stopped = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
	lua_pop(L, 1);
	return s->stopped;
}

static void push_result(lua_State *L, struct http_response *r, int stopped)
{
	lua_pushinteger(L, r->status);
	lua_pushlstring(L, r->body ? r->body : "", r->body ? r->body_len : 0);
	lua_createtable(L, 0, 4);
	if (r->content_type) {
		lua_pushstring(L, r->content_type);
		lua_setfield(L, -2, "content_type");
	}
	if (r->retry_after_s >= 0) {
		lua_pushinteger(L, r->retry_after_s);
		lua_setfield(L, -2, "retry_after");
	}
	lua_pushnumber(L, r->seconds);
	lua_setfield(L, -2, "seconds");
	lua_pushboolean(L, stopped);
	lua_setfield(L, -2, "stopped");
}

/* A write must reach the server at most once (see http_request.fresh_connection): a fresh connection, never one
 * that libcurl may resend it on. A review (access, self subject) stores nothing: it may go on a kept connection. */
static int needs_fresh_connection(const char *method, const char *path)
{
	size_t n = strlen(path);

	if (!method || strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return 0;
	return !(strcmp(method, "POST") == 0 && n > 7 && strcmp(path + n - 7, "reviews") == 0 &&
		 (strncmp(path, "/apis/authorization.k8s.io/", 27) == 0 ||
		  strncmp(path, "/apis/authentication.k8s.io/", 28) == 0));
}

/* Performs one request with the client's credentials; after a 401 it refreshes them (exec plugin,
 * token file) and tries once more. No other retries: medic.k8s decides those. */
static enum http_error perform(lua_State *L, struct k8s_client *c, struct http_request *req, struct http_header *h,
			       size_t nh, struct http_response *resp)
{
	char err[512];
	enum http_error e = HTTP_OK;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (k8s_auth_prepare(c, attempt > 0, err, sizeof err) != 0) {
			memset(resp, 0, sizeof *resp);
			resp->error = HTTP_ERR_OTHER;
			snprintf(resp->errmsg, sizeof resp->errmsg, "credentials: %.220s", err);
			return HTTP_ERR_OTHER;
		}
		if (attempt > 0) {
			http_response_free(resp);
			medic_log(MEDIC_LOG_DEBUG, "http", "401: refreshed the credentials, trying again");
		}
		h[0].value = c->auth;
		req->headers = c->auth ? h : h + 1;
		req->nheaders = c->auth ? nh : nh - 1;
		struct http_client *http = c->busy ? k8s_http_new(c, err, sizeof err) : c->http;
		if (!http) {
			memset(resp, 0, sizeof *resp);
			resp->error = HTTP_ERR_OTHER;
			snprintf(resp->errmsg, sizeof resp->errmsg, "%.250s", err);
			return HTTP_ERR_OTHER;
		}
		int nested = c->busy;
		c->busy = 1;
		e = http_do(http, req, resp);
		c->busy = nested;
		if (nested)
			http_client_free(http);
		if (e != HTTP_OK || resp->status != 401 || (!c->kc.exec && !c->kc.token_file))
			break;
	}
	return e;
}

/* client:raw{method="GET", path="/api/v1/...", query={k=v|{v...}}, body=STRING, content_type=,
 *            accept="application/json", timeout=SECONDS, on_data=function(chunk) -> false to stop}
 * -> status, body, {content_type=, retry_after=, seconds=, stopped=}
 *  | nil, message, code   (transport failures: "ConnectFailed", "TLS", "Timeout", "ConnectionLost", ...)
 * With on_data, a 2xx body goes to the function chunk by chunk (an error in it is raised after the
 * transfer); other statuses come back whole as body. */
static int client_raw(lua_State *L)
{
	struct k8s_client *c = check_client(L);
	struct http_request req = {0};
	struct http_response resp;
	struct stream st = {L, 0, 0, 0};
	size_t body_len = 0;

	luaL_checktype(L, 2, LUA_TTABLE);
	req.method = opt_str(L, 2, "method");
	const char *path = opt_str(L, 2, "path");
	req.body = opt_str(L, 2, "body");
	const char *ctype = opt_str(L, 2, "content_type"), *accept = opt_str(L, 2, "accept");
	req.timeout_ms = opt_ms(L, 2, "timeout");
	if (!path)
		return luaL_argerror(L, 2, "path is required");
	req.fresh_connection = needs_fresh_connection(req.method, path);
	if (req.body) {
		lua_getfield(L, 2, "body");
		lua_tolstring(L, -1, &body_len);
		lua_pop(L, 1);
		req.body_len = body_len;
	}
	lua_getfield(L, 2, "query");
	k8s_push_url(L, c, path, -1);
	req.url = lua_tostring(L, -1);
	lua_getfield(L, 2, "on_data");
	if (!lua_isnil(L, -1)) {
		luaL_checktype(L, -1, LUA_TFUNCTION);
		st.fn = lua_gettop(L);
		req.on_data = on_chunk;
		req.on_data_ud = &st;
	}
	lua_pushnil(L);
	st.errslot = lua_gettop(L);
	luaL_checkstack(L, 20, "k8s request");
	struct http_header h[] = {{"Authorization", NULL},
				  {"Accept", accept ? accept : "application/json"},
				  {"User-Agent", "etcd-medic"},
				  {"Content-Type", ctype ? ctype : "application/json"}};
	enum http_error e = perform(L, c, &req, h, req.body ? 4 : 3, &resp);
	if (!lua_isnil(L, st.errslot)) {
		http_response_free(&resp);
		lua_pushvalue(L, st.errslot);
		return lua_error(L);
	}
	if (e != HTTP_OK && !(e == HTTP_ERR_ABORTED && st.stopped)) {
		lua_pushnil(L);
		lua_pushstring(L, resp.errmsg);
		lua_pushstring(L, http_error_code(e));
		http_response_free(&resp);
		return 3;
	}
	push_result(L, &resp, st.stopped);
	http_response_free(&resp);
	return 3;
}

static const luaL_Reg client_methods[] = {
	{"raw", client_raw},
	{"exec", k8s_exec},
	{"info", client_info},
	{"close", client_close},
	{NULL, NULL}
};

static const luaL_Reg client_meta[] = {
	{"__gc", client_close},
	{"__close", client_close},
	{"__tostring", client_tostring},
	{NULL, NULL}
};

static const luaL_Reg core_functions[] = {
	{"connect", k8s_connect},
	{NULL, NULL}
};

int luaopen_medic_k8s_core(lua_State *L);
int luaopen_medic_k8s_core(lua_State *L)
{
	luaL_newmetatable(L, K8S_CLIENT_MT);
	luaL_setfuncs(L, client_meta, 0);
	luaL_newlib(L, client_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_newlib(L, core_functions);
	return 1;
}
