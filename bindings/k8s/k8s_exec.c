#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/errors.h"
#include "base/log.h"
#include "k8s/k8s_exec.h"
#include "k8s/k8s_internal.h"
#include "k8s/websocket.h"

/* Pod exec over WebSocket (Kubernetes remotecommand v5/v4 channel protocols, reference protocols.md §1):
 * a CONNECT_ONLY connection, our own upgrade handshake and framing, channels 1/2 into stdout/stderr and
 * channel 3 (the Status) handed to Lua, which turns it into an exit code.
 * stdin: sent on channel 0, then closed with v5's [255, 0]. v4 cannot half-close: the command gets the
 * bytes but never EOF, so on v4 a command that reads stdin to the end only finishes at the timeout (use
 * commands that do not read stdin, or read a known amount). */

#define DEFAULT_EXEC_TIMEOUT_MS 300000L
#define DEFAULT_MAX_OUTPUT ((size_t)256 << 20)
#define STDIN_CHUNK 32768

static int out_add(struct exec_out *o, const unsigned char *p, size_t n, size_t max)
{
	if (n == 0)
		return 0;
	if (o->len + n > max)
		return -1;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 65536;
		while (cap < o->len + n)
			cap *= 2;
		char *d = realloc(o->data, cap);
		if (!d)
			return -1;
		o->data = d;
		o->cap = cap;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum http_error fail(struct exec_session *s, enum http_error e, const char *msg)
{
	snprintf(s->errmsg, sizeof s->errmsg, "exec: %.300s", msg);
	return e;
}

static enum http_error send_stdin(struct exec_session *s)
{
	unsigned char chunk[STDIN_CHUNK + 1];
	enum http_error e;

	for (size_t off = 0; off < s->stdin_len; off += STDIN_CHUNK) {
		size_t n = s->stdin_len - off < STDIN_CHUNK ? s->stdin_len - off : STDIN_CHUNK;
		chunk[0] = 0;
		memcpy(chunk + 1, s->stdin_data + off, n);
		if ((e = ws_send(&s->ws, WS_BINARY, chunk, n + 1)) != HTTP_OK)
			return e;
	}
	if (strcmp(s->ws.protocol, "v5.channel.k8s.io") == 0) {
		static const unsigned char close_stdin[2] = {255, 0};
		return ws_send(&s->ws, WS_BINARY, close_stdin, 2);
	}
	return HTTP_OK;
}

static enum http_error pump(struct exec_session *s, long deadline)
{
	for (;;) {
		const unsigned char *data;
		size_t len;
		int op;
		long left = deadline - now_ms();
		if (left <= 0)
			return fail(s, HTTP_ERR_TIMEOUT, "the command did not finish in time");
		enum http_error e = ws_read(&s->ws, &op, &data, &len, left);
		if (e != HTTP_OK)
			return fail(s, e, s->ws.err);
		if (op == WS_CLOSE)
			return HTTP_OK;
		if (len < 1 || data[0] < 1 || data[0] > 3)
			continue; /* "connection established" (empty) or a channel we do not read */
		if (data[0] == 1 && s->stdout_file) {
			if (fwrite(data + 1, 1, len - 1, s->stdout_file) != len - 1)
				return fail(s, HTTP_ERR_OTHER, "cannot write stdout to the file");
			s->stdout_bytes += len - 1;
		} else if (out_add(&s->out[data[0]], data + 1, len - 1, s->max_output) != 0) {
			return fail(s, HTTP_ERR_TOO_LARGE, "output larger than the limit");
		}
	}
}

enum http_error exec_session_run(struct exec_session *s, struct ws_io io)
{
	struct http_header h[] = {{"Authorization", s->auth}, {"User-Agent", "etcd-medic"}};
	long t0 = now_ms();

	ws_init(&s->ws, io, 0);
	s->hs.host = s->host;
	s->hs.path = s->path;
	s->hs.headers = s->auth ? h : h + 1;
	s->hs.nheaders = s->auth ? 2 : 1;
	s->hs.protocols = "v5.channel.k8s.io,v4.channel.k8s.io";
	s->hs.timeout_ms = s->timeout_ms;
	enum http_error e = ws_handshake(&s->ws, &s->hs);
	medic_log(MEDIC_LOG_DEBUG, "http", "GET %s -> %ld %s (%ld ms)", s->path, s->hs.status, s->ws.protocol,
		  now_ms() - t0);
	if (e != HTTP_OK)
		return fail(s, e, s->ws.err);
	if (s->hs.status != 101)
		return fail(s, HTTP_ERR_OTHER, s->ws.err);
	if (s->stdin_data && (e = send_stdin(s)) != HTTP_OK)
		return fail(s, e, s->ws.err);
	e = pump(s, t0 + s->timeout_ms);
	if (!s->ws.closed)
		ws_send(&s->ws, WS_CLOSE, "\x03\xe8", 2); /* 1000: we are done (best effort) */
	return e;
}

void exec_session_free(struct exec_session *s)
{
	ws_free(&s->ws);
	free(s->hs.body);
	s->hs.body = NULL;
	for (int i = 0; i < 4; i++) {
		free(s->out[i].data);
		s->out[i].data = NULL;
	}
}

static enum http_error raw_send(void *ud, const void *buf, size_t len, char *err, size_t errlen)
{
	return http_raw_send(ud, buf, len, err, errlen);
}

static enum http_error raw_recv(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err, size_t errlen)
{
	return http_raw_recv(ud, buf, cap, got, timeout_ms, err, errlen);
}

static void host_of(const char *server, char *out, size_t n)
{
	const char *p = strstr(server, "://");
	p = p ? p + 3 : server;
	snprintf(out, n, "%.*s", (int)strcspn(p, "/"), p);
}

/* Connects and runs one session; the connection is closed before returning. */
static enum http_error run(struct k8s_client *c, const char *url, struct exec_session *s)
{
	struct http_response resp;
	char host[256];
	struct http_raw *raw = http_raw_open(c->http, url, s->timeout_ms, &resp);

	if (!raw)
		return fail(s, resp.error, resp.errmsg);
	host_of(c->kc.server, host, sizeof host);
	s->host = host;
	s->path = http_url_path(url);
	s->auth = c->auth;
	enum http_error e = exec_session_run(s, (struct ws_io){raw, raw_send, raw_recv});
	http_raw_close(raw);
	s->host = NULL;
	return e;
}

/* Builds the exec URL on the stack: path plus the PodExecOptions query (command repeated per argv). */
static void push_exec_url(lua_State *L, struct k8s_client *c, int has_stdin)
{
	size_t nslen, podlen;
	const char *ns = luaL_checklstring(L, -2, &nslen), *pod = luaL_checklstring(L, -1, &podlen);
	if (!nslen || !podlen || strlen(ns) != nslen || strlen(pod) != podlen || strpbrk(ns, "/?") ||
	    strpbrk(pod, "/?"))
		luaL_error(L, "exec: bad namespace or pod name");
	lua_pushfstring(L, "/api/v1/namespaces/%s/pods/%s/exec", ns, pod);
	const char *path = lua_tostring(L, -1);
	lua_createtable(L, 0, 5);
	lua_getfield(L, 1 + 1, "command");
	lua_setfield(L, -2, "command");
	lua_getfield(L, 1 + 1, "container");
	lua_setfield(L, -2, "container");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "stdout");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "stderr");
	if (has_stdin) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "stdin");
	}
	k8s_push_url(L, c, path, -1);
}

static void check_command(lua_State *L)
{
	lua_getfield(L, 2, "command");
	luaL_argcheck(L, lua_istable(L, -1) && luaL_len(L, -1) >= 1, 2, "command must be a non-empty list of strings");
	for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
		if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
			luaL_argerror(L, 2, "command must be a non-empty list of strings");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* stdout_file=PATH: *f is a new file PATH.XXXXXX (mode 0600) next to PATH, named in tmp; NULL when not asked
 * for. -1 with the reason in err when it cannot be created. */
static int open_stdout_file(lua_State *L, FILE **f, char *tmp, size_t tmplen, char *err, size_t errlen)
{
	lua_getfield(L, 2, "stdout_file");
	const char *path = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
	int fd = -1;

	*f = NULL;
	tmp[0] = '\0';
	if (path != NULL) {
		if (snprintf(tmp, tmplen, "%s.XXXXXX", path) >= (int)tmplen)
			errno = ENAMETOOLONG;
		else if ((fd = mkstemp(tmp)) >= 0 && (*f = fdopen(fd, "wb")) == NULL)
			close(fd);
		if (*f == NULL) {
			snprintf(err, errlen, "cannot create a file next to %.300s: %s", path, strerror(errno));
			if (fd >= 0)
				unlink(tmp);
		}
	}
	lua_pop(L, 1);
	return path != NULL && *f == NULL ? -1 : 0;
}

/* Closes the stdout file; it is kept (flushed and fsynced) only when keep is set and that succeeds. */
static int close_stdout_file(FILE *f, const char *tmp, int keep)
{
	if (f == NULL)
		return 0;
	int ok = keep && fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

/* client:exec{namespace=, pod=, container=, command={argv...}, stdin=STRING, timeout=SECONDS (300),
 *             max_output=BYTES (256 MiB per stream), stdout_file=PATH}
 * -> {stdout=, stderr=, status=JSON text of the channel-3 Status or nil, protocol="v5.channel.k8s.io"|...}
 *  | nil, message, code, {status=HTTP status, body=response body}  (the last only for a refused upgrade)
 * With stdout_file, stdout is written (fsynced) to a new file beside PATH instead: the result has
 * stdout_temp= its name and stdout_bytes=; the caller renames it over PATH or removes it. */
int k8s_exec(lua_State *L)
{
	struct k8s_client *c = luaL_checkudata(L, 1, K8S_CLIENT_MT);
	struct exec_session r;
	char err[512];
	size_t stdin_len = 0;

	luaL_argcheck(L, !c->closed, 1, "k8s client is closed");
	luaL_checktype(L, 2, LUA_TTABLE);
	check_command(L);
	memset(&r, 0, sizeof r);
	lua_getfield(L, 2, "stdin");
	r.stdin_data = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, &stdin_len);
	r.stdin_len = stdin_len;
	lua_getfield(L, 2, "timeout");
	r.timeout_ms = lua_isnil(L, -1) ? DEFAULT_EXEC_TIMEOUT_MS : (long)(luaL_checknumber(L, -1) * 1000);
	lua_getfield(L, 2, "max_output");
	r.max_output = lua_isnil(L, -1) ? DEFAULT_MAX_OUTPUT : (size_t)luaL_checkinteger(L, -1);
	lua_getfield(L, 2, "namespace");
	lua_getfield(L, 2, "pod");
	luaL_argcheck(L, lua_isstring(L, -2) && lua_isstring(L, -1), 2, "namespace and pod are required");
	push_exec_url(L, c, r.stdin_data != NULL);
	const char *url = lua_tostring(L, -1);
	luaL_checkstack(L, 10, "exec");
	if (k8s_auth_prepare(c, 0, err, sizeof err) != 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "credentials: %s", err);
		lua_pushstring(L, MEDIC_E_INVALID_CONFIG);
		return 3;
	}
	char tmp[4096];
	if (open_stdout_file(L, &r.stdout_file, tmp, sizeof tmp, err, sizeof err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		lua_pushstring(L, MEDIC_E_IO_ERROR);
		return 3;
	}
	enum http_error e = run(c, url, &r);
	if (r.hs.status == 401 && (c->kc.exec || c->kc.token_file) && k8s_auth_prepare(c, 1, err, sizeof err) == 0) {
		struct exec_session again = {.stdin_data = r.stdin_data, .stdin_len = r.stdin_len,
					     .timeout_ms = r.timeout_ms, .max_output = r.max_output,
					     .stdout_file = r.stdout_file};
		/* the upgrade was refused: nothing ran; try once with the refreshed credential */
		exec_session_free(&r);
		r = again;
		e = run(c, url, &r);
	}
	if (close_stdout_file(r.stdout_file, tmp, e == HTTP_OK) != 0 && e == HTTP_OK) {
		e = HTTP_ERR_OTHER;
		snprintf(r.errmsg, sizeof r.errmsg, "exec: cannot write stdout to %.256s: %s", tmp, strerror(errno));
	}
	if (e != HTTP_OK) {
		lua_pushnil(L);
		lua_pushstring(L, r.errmsg);
		lua_pushstring(L, http_error_code(e));
		if (r.hs.status == 0 || r.hs.status == 101) {
			exec_session_free(&r);
			return 3;
		}
		lua_createtable(L, 0, 2);
		lua_pushinteger(L, r.hs.status);
		lua_setfield(L, -2, "status");
		lua_pushlstring(L, r.hs.body ? r.hs.body : "", r.hs.body_len);
		lua_setfield(L, -2, "body");
		exec_session_free(&r);
		return 4;
	}
	lua_createtable(L, 0, 5);
	if (r.stdout_file) {
		lua_pushstring(L, tmp);
		lua_setfield(L, -2, "stdout_temp");
		lua_pushinteger(L, (lua_Integer)r.stdout_bytes);
		lua_setfield(L, -2, "stdout_bytes");
	} else {
		lua_pushlstring(L, r.out[1].data ? r.out[1].data : "", r.out[1].len);
		lua_setfield(L, -2, "stdout");
	}
	lua_pushlstring(L, r.out[2].data ? r.out[2].data : "", r.out[2].len);
	lua_setfield(L, -2, "stderr");
	if (r.out[3].len) {
		lua_pushlstring(L, r.out[3].data, r.out[3].len);
		lua_setfield(L, -2, "status");
	}
	lua_pushstring(L, r.ws.protocol);
	lua_setfield(L, -2, "protocol");
	exec_session_free(&r);
	return 1;
}
