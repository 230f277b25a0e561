#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/errors.h"
#include "base/http.h"
#include "base/log.h"
#include "etcd/etcd_boltrev.h"
#include "etcd/etcd_error.h"
#include "etcd/etcd_id.h"
#include "etcd/etcd_snapshot.h"

/* medic.etcd.core: the C half of medic.etcd. It does what needs C: HTTPS with mutual TLS to the etcd v3
 * JSON gateway (one reused libcurl client per endpoint URL), exact 64-bit member IDs, error classification,
 * and the streamed snapshot. Which endpoint to ask, failover, JSON decoding and the mapping to result
 * tables are in scripts/medic/etcd.lua, shared with the etcdctl transport. */

#define CONN_MT "medic.etcd.conn"
#define MAX_ENDPOINTS 16     /* configured endpoints */
#define MAX_CLIENTS 32       /* configured endpoints plus member client URLs met later (health --cluster) */
#define MAX_PEM (1 << 20)

struct pem {
	char *data;
	size_t len;
};

struct etcd_conn {
	int closed;
	struct pem ca, cert, key;
	long timeout_ms;
	int nendpoints;
	char *endpoints[MAX_ENDPOINTS];
	int nclients;
	struct {
		char *base;                 /* "https://host:port", no trailing slash */
		struct http_client *client;
	} clients[MAX_CLIENTS];
};

/* The one close, shared by close, __gc and __close; safe to call twice. */
static void conn_release(struct etcd_conn *c)
{
	for (int i = 0; i < c->nclients; i++) {
		http_client_free(c->clients[i].client);
		free(c->clients[i].base);
	}
	for (int i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->ca.data);
	free(c->cert.data);
	free(c->key.data);
	memset(c, 0, sizeof *c);
	c->closed = 1;
}

static struct etcd_conn *check_conn(lua_State *L)
{
	struct etcd_conn *c = luaL_checkudata(L, 1, CONN_MT);
	if (c->closed)
		luaL_error(L, "attempt to use a closed etcd connection");
	return c;
}

static int fail(lua_State *L, const char *msg, const char *code, int definite)
{
	lua_pushnil(L);
	lua_pushstring(L, msg);
	lua_pushstring(L, code);
	lua_pushboolean(L, definite);
	return 4;
}

/* ---- connect ---------------------------------------------------------------------------------- */

static int read_pem(const char *path, struct pem *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	out->data = malloc(MAX_PEM + 1);
	out->len = out->data ? fread(out->data, 1, MAX_PEM + 1, f) : 0;
	int bad = out->data == NULL || ferror(f) || out->len > MAX_PEM || out->len == 0;
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "cannot read %s: empty, unreadable or larger than 1 MiB", path);
		return -1;
	}
	out->data[out->len] = '\0';
	return 0;
}

/* Endpoints as a list of URLs or one comma-separated string (the --etcd-endpoints form). Raises on misuse,
 * before anything is allocated that the userdata's __gc would not free. */
static void collect_endpoints(lua_State *L, int opts, struct etcd_conn *c)
{
	int t = lua_getfield(L, opts, "endpoints");
	if (t == LUA_TSTRING) {
		const char *s = lua_tostring(L, -1);
		while (*s && c->nendpoints < MAX_ENDPOINTS) {
			size_t n = strcspn(s, ",");
			if (n > 0 && (c->endpoints[c->nendpoints] = strndup(s, n)) != NULL)
				c->nendpoints++;
			s += n + (s[n] == ',');
		}
	} else if (t == LUA_TTABLE) {
		for (lua_Integer i = 1; i <= MAX_ENDPOINTS && lua_geti(L, -1, i) != LUA_TNIL; i++) {
			if (lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "connect: endpoints[%d] must be a string", (int)i);
			c->endpoints[c->nendpoints] = strdup(lua_tostring(L, -1));
			c->nendpoints += c->endpoints[c->nendpoints] != NULL;
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	} else {
		luaL_error(L, "connect: endpoints must be a list of URLs or a comma-separated string");
	}
	lua_pop(L, 1);
	for (int i = 0; i < c->nendpoints; i++) {
		size_t n = strlen(c->endpoints[i]);
		while (n > 0 && c->endpoints[i][n - 1] == '/')
			c->endpoints[i][--n] = '\0';
		if (strncmp(c->endpoints[i], "https://", 8) != 0 && strncmp(c->endpoints[i], "http://", 7) != 0)
			luaL_error(L, "connect: endpoint '%s' is not an http:// or https:// URL", c->endpoints[i]);
	}
	if (c->nendpoints == 0)
		luaL_error(L, "connect: no endpoints given");
}

static const char *opt_string(lua_State *L, int opts, const char *name)
{
	int t = lua_getfield(L, opts, name);
	if (t != LUA_TNIL && t != LUA_TSTRING)
		luaL_error(L, "connect: %s must be a file name", name);
	const char *s = lua_tostring(L, -1);   /* stays alive: opts holds it */
	lua_pop(L, 1);
	return s;
}

/* core.connect{endpoints={url...}|"url,url", cacert=FILE, cert=FILE, key=FILE, timeout=SECONDS}
 *   -> conn | nil, message, code
 * Reads the PEM files into memory. No network traffic yet: clients connect on first use. */
static int l_connect(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	struct etcd_conn *c = lua_newuserdatauv(L, sizeof *c, 0);
	memset(c, 0, sizeof *c);
	luaL_setmetatable(L, CONN_MT);
	collect_endpoints(L, 1, c);
	const char *files[3] = {opt_string(L, 1, "cacert"), opt_string(L, 1, "cert"), opt_string(L, 1, "key")};
	lua_getfield(L, 1, "timeout");
	double timeout = luaL_optnumber(L, -1, 5);
	lua_pop(L, 1);
	luaL_argcheck(L, timeout > 0 && timeout <= 3600, 1, "timeout must be between 0 and 3600 seconds");
	c->timeout_ms = (long)(timeout * 1000);
	if ((files[1] == NULL) != (files[2] == NULL))
		luaL_error(L, "connect: cert and key go together");
	struct pem *pems[3] = {&c->ca, &c->cert, &c->key};
	char err[512];
	for (int i = 0; i < 3; i++)
		if (files[i] != NULL && read_pem(files[i], pems[i], err, sizeof err) != 0)
			return fail(L, err, MEDIC_E_INVALID_CONFIG, 1);
	return 1;
}

/* ---- requests --------------------------------------------------------------------------------- */

static struct http_client *client_for(struct etcd_conn *c, const char *base, char *err, size_t errlen)
{
	for (int i = 0; i < c->nclients; i++)
		if (strcmp(c->clients[i].base, base) == 0)
			return c->clients[i].client;
	if (c->nclients == MAX_CLIENTS) {
		snprintf(err, errlen, "too many distinct etcd endpoints (at most %d)", MAX_CLIENTS);
		return NULL;
	}
	struct http_client_opts o = {
		.tls = {.ca_pem = c->ca.data, .ca_len = c->ca.len, .cert_pem = c->cert.data,
			.cert_len = c->cert.len, .key_pem = c->key.data, .key_len = c->key.len},
		.connect_timeout_ms = c->timeout_ms < 10000 ? c->timeout_ms : 10000,
		.timeout_ms = c->timeout_ms,
	};
	char *copy = strdup(base);
	struct http_client *h = copy ? http_client_new(&o, err, errlen) : NULL;
	if (h == NULL) {
		free(copy);
		return NULL;
	}
	c->clients[c->nclients].base = copy;
	c->clients[c->nclients++].client = h;
	return h;
}

/* Builds base .. path into buf; base loses any trailing slash. */
static int make_url(char *buf, size_t len, const char *base, size_t blen, const char *path)
{
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	return snprintf(buf, len, "%.*s%s", (int)blen, base, path) < (int)len ? 0 : -1;
}

/* Membership changes must reach etcd at most once: libcurl would silently resend a request whose reused
 * keep-alive connection died before any answer, so they go on a new connection. */
static int is_membership_change(const char *path)
{
	return strstr(path, "/cluster/member/") != NULL && strstr(path, "/cluster/member/list") == NULL;
}

static long timeout_arg(lua_State *L, int idx, struct etcd_conn *c)
{
	double t = luaL_optnumber(L, idx, (double)c->timeout_ms / 1000);
	luaL_argcheck(L, t > 0 && t <= 86400, idx, "timeout must be between 0 and 86400 seconds");
	return (long)(t * 1000);
}

/* conn:request(base_url, path, body_json [, timeout_seconds])
 *   -> http_status, body, seconds | nil, message, code, definite, seconds
 * One POST to the gateway; no retries (the Lua half decides). A transport failure gives http.h's code;
 * definite is true only when the request certainly did not reach etcd (connect or TLS failure). */
static int l_request(lua_State *L)
{
	struct etcd_conn *c = check_conn(L);
	size_t blen, bodylen;
	const char *base = luaL_checklstring(L, 2, &blen);
	const char *path = luaL_checkstring(L, 3);
	const char *body = luaL_checklstring(L, 4, &bodylen);
	long timeout_ms = timeout_arg(L, 5, c);
	char url[1024], err[256];
	luaL_argcheck(L, make_url(url, sizeof url, base, blen, path) == 0, 2, "URL too long");
	struct http_client *h = client_for(c, lua_tostring(L, 2), err, sizeof err);
	if (h == NULL)
		return fail(L, err, MEDIC_E_INVALID_CONFIG, 1);
	struct http_header hdr[] = {{"Content-Type", "application/json"}};
	struct http_request req = {.method = "POST", .url = url, .headers = hdr, .nheaders = 1,
				   .body = body, .body_len = bodylen, .timeout_ms = timeout_ms,
				   .fresh_connection = is_membership_change(path)};
	struct http_response resp;
	memset(&resp, 0, sizeof resp);
	enum http_error e = http_do(h, &req, &resp);
	if (e != HTTP_OK) {
		double seconds = resp.seconds;
		snprintf(err, sizeof err, "%s", resp.errmsg);
		http_response_free(&resp);
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", base, err);
		lua_pushstring(L, http_error_code(e));
		lua_pushboolean(L, e == HTTP_ERR_CONNECT || e == HTTP_ERR_TLS);
		lua_pushnumber(L, seconds);
		return 5;
	}
	lua_pushinteger(L, resp.status);
	lua_pushlstring(L, resp.body ? resp.body : "", resp.body ? resp.body_len : 0);
	lua_pushnumber(L, resp.seconds);
	http_response_free(&resp);
	return 3;
}

static int snapshot_on_data(void *ud, const char *data, size_t len)
{
	return etcd_snapshot_feed(ud, data, len);
}

static int snapshot_on_header(void *ud, const char *line, size_t len)
{
	return etcd_snapshot_header(ud, line, len);
}

/* gRPC's Maintenance/Snapshot: HTTP/2 (h2 by ALPN on https, h2c on http), one empty SnapshotRequest in a
 * gRPC frame. A new connection: libcurl would otherwise reuse a kept-alive HTTP/1.1 one. */
static const struct http_header grpc_headers[] = {{"Content-Type", "application/grpc"}, {"TE", "trailers"}};
static const struct http_header gateway_headers[] = {{"Content-Type", "application/json"}};

struct snapshot_try {
	const char *transport;      /* "grpc" or "gateway" */
	const char *path;           /* URL path */
	enum etcd_snapshot_stream kind;
	struct http_request req;
};

/* Runs one transfer into a new temporary file next to path. Returns 0, or -1 with err filled, *code set and
 * *fallback non-zero when nothing came back in the stream's protocol over a connection that was made (no
 * HTTP/2, a proxy or a server that does not speak gRPC): then another transport may well work. */
static int snapshot_transfer(struct http_client *h, struct snapshot_try *t, const char *path,
			     struct etcd_snapshot_result *res, char *err, size_t errlen, const char **code,
			     int *fallback)
{
	*code = MEDIC_E_SNAPSHOT_FAILED;
	*fallback = 0;
	struct etcd_snapshot *s = etcd_snapshot_open(path, t->kind, err, errlen);
	if (s == NULL)
		return -1;
	t->req.on_data_ud = s;
	struct http_response resp;
	memset(&resp, 0, sizeof resp);
	enum http_error e = http_do(h, &t->req, &resp);
	int r = -1;
	const char *why = etcd_snapshot_error(s);   /* the stream's fault, or the server's own message */
	if (resp.status > 0 && resp.status != 200)
		snprintf(err, errlen, "snapshot refused: HTTP status %ld%s%.200s", resp.status, *why ? ": " : "", why);
	else if (e == HTTP_ERR_ABORTED)
		snprintf(err, errlen, "%s", why);
	else if (e != HTTP_OK)
		snprintf(err, errlen, "%s", resp.errmsg), *code = http_error_code(e);
	else
		r = 0;
	if (r != 0)
		*fallback = !etcd_snapshot_answered(s) && resp.connected && e != HTTP_ERR_TLS &&
			    e != HTTP_ERR_TIMEOUT && e != HTTP_ERR_INTERRUPTED;
	http_response_free(&resp);
	if (r != 0) {
		etcd_snapshot_abort(s);
		return -1;
	}
	return etcd_snapshot_finish(s, res, err, errlen);
}

/* {size=, sha256=, revision=[, version=]}: the revision read from the saved database as `etcdctl snapshot
 * status` reads it (left out, with a warning, when the file does not parse). */
static void push_snapshot(lua_State *L, const char *path, const struct etcd_snapshot_result *res)
{
	char err[512];
	int64_t revision;
	int have_revision = etcd_bolt_revision(path, &revision, err, sizeof err) == 0;

	if (!have_revision)
		medic_log(MEDIC_LOG_WARN, "etcd", "snapshot %s: cannot read its revision: %s", path, err);
	lua_createtable(L, 0, 5);
	if (have_revision) {
		lua_pushinteger(L, (lua_Integer)revision);
		lua_setfield(L, -2, "revision");
	}
	lua_pushinteger(L, (lua_Integer)res->size);
	lua_setfield(L, -2, "size");
	lua_pushstring(L, res->sha256);
	lua_setfield(L, -2, "sha256");
	if (res->version[0]) {
		lua_pushstring(L, res->version);
		lua_setfield(L, -2, "version");
	}
}

/* conn:snapshot(base_url, path [, timeout_seconds])
 *   -> {size=, sha256=, revision=, transport=, version=} | nil, message, code, true
 * Streams the snapshot from that endpoint into PATH (see etcd_snapshot.h): constant memory, SHA-256 trailer
 * checked, temporary file + fsync + rename, mode 0600. transport is "grpc" (Maintenance/Snapshot over HTTP/2,
 * the way etcdctl does it) or "gateway" (/v3/maintenance/snapshot, base64 in JSON: 4/3 the bytes and about
 * three times etcd's CPU), taken only when the gRPC request got no gRPC answer at all (logged at INFO).
 * version is etcd 3.6's storage version (absent before 3.6). revision is read from the saved database as
 * `etcdctl snapshot status` reads it (absent if the file cannot be parsed). The default timeout is 30 minutes. */
static int l_snapshot(lua_State *L)
{
	struct etcd_conn *c = check_conn(L);
	size_t blen;
	const char *base = luaL_checklstring(L, 2, &blen);
	const char *path = luaL_checkstring(L, 3);
	double t = luaL_optnumber(L, 4, 1800);
	luaL_argcheck(L, t > 0 && t <= 86400, 4, "timeout must be between 0 and 86400 seconds");
	static const char grpc_frame[5] = {0, 0, 0, 0, 0};   /* uncompressed, length 0: an empty SnapshotRequest */
	struct snapshot_try tries[2] = {
		{"grpc", "/etcdserverpb.Maintenance/Snapshot", ETCD_SNAPSHOT_GRPC,
		 {.method = "POST", .headers = grpc_headers, .nheaders = 2, .body = grpc_frame, .body_len = 5,
		  .fresh_connection = 1, .http2 = 1, .on_header = snapshot_on_header}},
		{"gateway", "/v3/maintenance/snapshot", ETCD_SNAPSHOT_GATEWAY,
		 {.method = "POST", .headers = gateway_headers, .nheaders = 1, .body = "{}", .body_len = 2}},
	};
	char url[2][1024], err[512];
	for (int i = 0; i < 2; i++) {
		luaL_argcheck(L, make_url(url[i], sizeof url[i], base, blen, tries[i].path) == 0, 2, "URL too long");
		tries[i].req.url = url[i];
		tries[i].req.timeout_ms = (long)(t * 1000);
		tries[i].req.on_data = snapshot_on_data;
	}
	struct http_client *h = client_for(c, lua_tostring(L, 2), err, sizeof err);
	if (h == NULL)
		return fail(L, err, MEDIC_E_INVALID_CONFIG, 1);
	struct etcd_snapshot_result res;
	const char *code;
	int fallback, i = 0;
	int r = snapshot_transfer(h, &tries[0], path, &res, err, sizeof err, &code, &fallback);
	if (r != 0 && fallback) {
		medic_log(MEDIC_LOG_INFO, "etcd", "snapshot from %s: no gRPC answer (%s); using the JSON gateway",
			  base, err);
		i = 1;
		r = snapshot_transfer(h, &tries[1], path, &res, err, sizeof err, &code, &fallback);
	}
	if (r != 0)
		return fail(L, err, code, 1);
	medic_log(MEDIC_LOG_INFO, "etcd", "snapshot from %s saved to %s over %s: %llu bytes", base, path,
		  tries[i].transport, (unsigned long long)res.size);
	push_snapshot(L, path, &res);
	lua_pushstring(L, tries[i].transport);
	lua_setfield(L, -2, "transport");
	return 1;
}

/* core.check_snapshot(path) -> {size=, sha256=, revision=} | nil, message, "SnapshotFailed", true
 * A snapshot file already on disk, checked as the transfer checks one (bindings/etcd/etcd_snapshot_check.c). */
static int l_check_snapshot(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct etcd_snapshot_result res;
	char err[512];

	if (etcd_snapshot_check(path, &res, err, sizeof err) != 0)
		return fail(L, err, MEDIC_E_SNAPSHOT_FAILED, 1);
	push_snapshot(L, path, &res);
	return 1;
}

/* conn:endpoints() -> {url...}: the configured endpoints, in order. */
static int l_endpoints(lua_State *L)
{
	struct etcd_conn *c = check_conn(L);
	lua_createtable(L, c->nendpoints, 0);
	for (int i = 0; i < c->nendpoints; i++) {
		lua_pushstring(L, c->endpoints[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* conn:close(): frees the clients and the TLS material; idempotent (also __gc and __close). */
static int l_close(lua_State *L)
{
	struct etcd_conn *c = luaL_checkudata(L, 1, CONN_MT);
	if (!c->closed)
		conn_release(c);
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct etcd_conn *c = luaL_checkudata(L, 1, CONN_MT);
	if (c->closed)
		lua_pushstring(L, "etcd connection (closed)");
	else
		lua_pushfstring(L, "etcd connection (%s%s)", c->endpoints[0], c->nendpoints > 1 ? ", ..." : "");
	return 1;
}

/* ---- IDs and errors --------------------------------------------------------------------------- */

/* core.id_hex(decimal_string | integer) -> "hex" | nil, message
 * For IDs read from the gateway (decimal strings) or from etcdctl -w json through medic.json (integers
 * up to 2^53, exact decimal strings above). */
static int l_id_hex(lua_State *L)
{
	uint64_t id;
	char buf[ETCD_ID_BUFSZ];
	if (lua_isinteger(L, 1) && lua_tointeger(L, 1) >= 0) {
		id = (uint64_t)lua_tointeger(L, 1);
	} else if (lua_type(L, 1) == LUA_TSTRING) {
		size_t n;
		const char *s = lua_tolstring(L, 1, &n);
		if (etcd_id_parse_dec(s, n, &id) != 0) {
			lua_pushnil(L);
			lua_pushfstring(L, "bad member ID from etcd: '%s' is not a decimal uint64", s);
			return 2;
		}
	} else {
		return luaL_argerror(L, 1, "expected a decimal string or a non-negative integer");
	}
	etcd_id_format_hex(id, buf);
	lua_pushstring(L, buf);
	return 1;
}

/* core.id_dec(hex_string) -> "decimal" | nil, message, "InvalidID"
 * For IDs from people and scripts: hex as etcdctl prints and parses it (an all-digit string is hex too).
 * Anything but a string raises: a Lua number may already have been rounded. */
static int l_id_dec(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_argerror(L, 1, "member ID must be a hex string as etcdctl prints it, not a number");
	size_t n;
	const char *s = lua_tolstring(L, 1, &n);
	uint64_t id;
	char buf[ETCD_ID_BUFSZ];
	if (etcd_id_parse_hex(s, n, &id) != 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "bad member ID '%s': expected 1 to 16 hex digits as etcdctl prints them", s);
		lua_pushstring(L, MEDIC_E_INVALID_ID);
		return 3;
	}
	etcd_id_format_dec(id, buf);
	lua_pushstring(L, buf);
	return 1;
}

/* core.classify(message [, grpc_code [, http_status]]) -> code, definite
 * definite: true when the request was certainly not applied; false when it may have been (re-read). */
static int l_classify(lua_State *L)
{
	const char *msg = luaL_optstring(L, 1, NULL);
	int grpc = (int)luaL_optinteger(L, 2, -1);
	long status = (long)luaL_optinteger(L, 3, 0);
	struct etcd_error_class cls = etcd_error_classify(msg, grpc, status);
	lua_pushstring(L, cls.code);
	lua_pushboolean(L, cls.definite);
	return 2;
}

static const luaL_Reg conn_methods[] = {
	{"request", l_request},
	{"snapshot", l_snapshot},
	{"endpoints", l_endpoints},
	{"close", l_close},
	{NULL, NULL}
};

static const luaL_Reg conn_meta[] = {
	{"__gc", l_close},
	{"__close", l_close},
	{"__tostring", l_tostring},
	{NULL, NULL}
};

static const luaL_Reg core_functions[] = {
	{"connect", l_connect},
	{"id_hex", l_id_hex},
	{"id_dec", l_id_dec},
	{"classify", l_classify},
	{"check_snapshot", l_check_snapshot},
	{NULL, NULL}
};

int luaopen_medic_etcd_core(lua_State *L);
int luaopen_medic_etcd_core(lua_State *L)
{
	luaL_newmetatable(L, CONN_MT);
	luaL_setfuncs(L, conn_meta, 0);
	luaL_newlib(L, conn_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_newlib(L, core_functions);
	return 1;
}
