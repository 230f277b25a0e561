/* Terminal facts and the log sink: "medic.output" gives scripts (and scripts/medic/ui.lua) what only C
 * knows: isatty, colour, width; and one path for log and audit lines, redacted by bindings/log.c. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/interrupt.h"
#include "json/json.h"
#include "base/log.h"
#include "output.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

int medic_output_color(const struct medic_options *opts, int fd)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	if (opts->no_color || (no_color && *no_color) || (term && strcmp(term, "dumb") == 0))
		return 0;
	return isatty(fd);
}

static void put_json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* One audit record: {"time":..., "level":..., "topic":..., "msg":...[, "fields":{...}]}. fields is
 * already-encoded JSON text (redacted by the caller) or NULL. */
static void write_json_line(FILE *f, const char *level, const char *topic, const char *msg, const char *fields)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"topic\":", when, ts.tv_nsec / 1000000, level);
	put_json_string(f, topic ? topic : "");
	fputs(",\"msg\":", f);
	put_json_string(f, msg);
	if (fields)
		fprintf(f, ",\"fields\":%s", fields);
	fputs("}\n", f);
	fflush(f);
}

static void print_line(const struct medic_options *opts, const char *level, const char *topic, const char *msg)
{
	int color = medic_output_color(opts, STDERR_FILENO);

	fprintf(stderr, "%s[%s] %s: %s%s\n", color ? "\033[2m" : "", level, topic ? topic : "-", msg,
		color ? "\033[0m" : "");
}

/* The sink for medic_log: msg is already redacted. */
static void sink(void *ud, enum medic_log_level level, const char *topic, const char *msg)
{
	struct medic_output *out = ud;

	if (out->json)
		write_json_line(out->json, level_names[level], topic, msg, NULL);
	if (level >= MEDIC_LOG_WARN || out->opts->verbose)
		print_line(out->opts, level_names[level], topic, msg);
}

int medic_output_open(struct medic_output *out, const struct medic_options *opts, char *err, size_t errlen)
{
	out->opts = opts;
	out->json = NULL;
	if (opts->log_json) {
		int fd = open(opts->log_json, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || !(out->json = fdopen(fd, "a"))) {
			snprintf(err, errlen, "cannot open --log-json %s: %s", opts->log_json, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		fchmod(fd, 0600); /* an audit log may name members and secrets: never world-readable */
	}
	medic_log_set_level(opts->verbose || out->json ? MEDIC_LOG_DEBUG : MEDIC_LOG_WARN);
	medic_log_set_sink(sink, out);
	return 0;
}

void medic_output_close(struct medic_output *out)
{
	medic_log_set_sink(NULL, NULL);
	if (out->json)
		fclose(out->json);
	out->json = NULL;
}

static struct medic_output *get_output(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static int check_fd(lua_State *L, int arg)
{
	static const char *const names[] = {"stdin", "stdout", "stderr", NULL};

	return luaL_checkoption(L, arg, "stdout", names);
}

/* output.isatty([which]) -> boolean; which is "stdin", "stdout" (default) or "stderr". */
static int output_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty(check_fd(L, 1)));
	return 1;
}

/* output.color([which]) -> boolean: may we colour that stream (terminal, no --no-color, no NO_COLOR)? */
static int output_color(lua_State *L)
{
	lua_pushboolean(L, medic_output_color(get_output(L)->opts, check_fd(L, 1)));
	return 1;
}

/* output.width() -> columns of the terminal on stdout (else $COLUMNS, else 80). */
static int output_width(lua_State *L)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long n = cols ? strtol(cols, NULL, 10) : 0;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		n = ws.ws_col;
	lua_pushinteger(L, n > 0 && n < 10000 ? n : 80);
	return 1;
}

/* output.verbose() -> boolean (-v given). */
static int output_verbose(lua_State *L)
{
	lua_pushboolean(L, get_output(L)->opts->verbose);
	return 1;
}

/* output.log(level, topic, msg): level "debug"|"info"|"warn"|"error". Redacted; debug and info reach
** stderr only with -v; all levels reach --log-json. */
static int output_log(lua_State *L)
{
	int level = luaL_checkoption(L, 1, NULL, level_names);
	const char *topic = luaL_checkstring(L, 2);
	const char *msg = luaL_checkstring(L, 3);

	medic_log((enum medic_log_level)level, topic, "%s", msg);
	return 0;
}

/* Pushes a redacted copy of the string at idx (medic_redact works in place on a copy owned by Lua). */
static const char *push_redacted(lua_State *L, int idx)
{
	size_t n;
	const char *s = lua_tolstring(L, idx, &n);
	char *copy = lua_newuserdatauv(L, n + 1, 0);

	memcpy(copy, s, n + 1);
	medic_redact(copy);
	lua_pushstring(L, copy);
	lua_remove(L, -2);
	return lua_tostring(L, -1);
}

/* output.audit(topic, msg [, fields]): one "audit" record in --log-json (fields: a table, JSON-encoded
** under "fields"); echoed on stderr with -v. Everything is redacted. Raises if fields cannot be encoded. */
static int output_audit(lua_State *L)
{
	struct medic_output *out = get_output(L);
	const char *topic = luaL_checkstring(L, 1), *fields = NULL;

	luaL_checkstring(L, 2);
	lua_settop(L, 3);
	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		if (medic_json_encode(L, 3) == 2)
			return luaL_error(L, "output.audit: fields: %s", lua_tostring(L, -1));
		fields = push_redacted(L, -1);
		if (medic_json_decode(L, fields, strlen(fields)) == 2) { /* redaction broke the JSON: keep it as text */
			lua_pop(L, 2);
			medic_json_encode(L, -1);
			fields = lua_tostring(L, -1);
		} else {
			lua_pop(L, 1);
		}
	}
	const char *msg = push_redacted(L, 2);
	if (out->json)
		write_json_line(out->json, "audit", topic, msg, fields);
	if (out->opts->verbose)
		print_line(out->opts, "audit", topic, msg);
	return 0;
}

/* output.redact(s) -> s with bearer tokens, private keys, Secret data... replaced by [REDACTED]. */
static int output_redact(lua_State *L)
{
	luaL_checkstring(L, 1);
	push_redacted(L, 1);
	return 1;
}

static const luaL_Reg output_funcs[] = {
	{"now", medic_lua_now},
	{"sleep", medic_lua_sleep},
	{"isatty", output_isatty},
	{"color", output_color},
	{"width", output_width},
	{"verbose", output_verbose},
	{"log", output_log},
	{"audit", output_audit},
	{"redact", output_redact},
	{NULL, NULL}
};

static int luaopen_medic_output(lua_State *L)
{
	luaL_newlibtable(L, output_funcs);
	lua_pushvalue(L, lua_upvalueindex(1));
	luaL_setfuncs(L, output_funcs, 1);
	return 1;
}

void medic_output_preload(lua_State *L, struct medic_output *out)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushlightuserdata(L, out);
	lua_pushcclosure(L, luaopen_medic_output, 1);
	lua_setfield(L, -2, "medic.output");
	lua_pop(L, 1);
}
