/* The REPL, after lua.c's (incomplete chunks continue on the next line, "return " is tried first so bare
 * expressions print) with libedit for line editing, history and completion, results pretty-printed by
 * medic.ui, and the REPL conveniences (etcd, k8s, node, json, cluster) predefined. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/interrupt.h"
#include "edit_lazy.h"
#include "loader.h"
#include "repl.h"
#include "state.h"

#define PROMPT1 "medic> "
#define PROMPT2 "medic>> "
#define EOFMARK "<eof>"
#define MAX_STDIN (64 << 20)

/* Completion runs inside libedit's callback, which has no user pointer: the one state it completes in. */
static lua_State *completion_L;

#define EXPLAIN_KEY "medic.repl.explain"

/* Run once, before the first prompt: medic.repl predefines the globals for exploring by hand (json, etcd, k8s,
** node, ui, help, cluster; scripts never see them). Its explain is kept in the registry for the
** errors typed at the prompt. */
static int setup_globals(lua_State *L)
{
	lua_getglobal(L, "require");
	lua_pushliteral(L, "medic.repl");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "explain");
	lua_setfield(L, LUA_REGISTRYINDEX, EXPLAIN_KEY);
	lua_getfield(L, -1, "setup");
	lua_pushglobaltable(L);
	lua_pushboolean(L, isatty(STDIN_FILENO));
	lua_call(L, 2, 0);
	return 0;
}

/* Prints the values on the stack from base up (results of a chunk) with medic.ui's pretty printer, or print. */
static void print_results(lua_State *L, int base)
{
	int n = lua_gettop(L) - base + 1;

	if (n == 0)
		return;
	luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
	lua_getglobal(L, "require");
	lua_pushliteral(L, "medic.ui");
	if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1) && lua_getfield(L, -1, "print") == LUA_TFUNCTION)
		lua_remove(L, -2);
	else {
		lua_settop(L, base + n - 1);
		lua_getglobal(L, "print");
	}
	lua_insert(L, base);
	if (lua_pcall(L, n, 0, 0) != LUA_OK)
		fprintf(stderr, "error calling the printer (%s)\n", lua_tostring(L, -1));
	lua_settop(L, 0);
}

/* Replaces the error message at the top of the stack with medic.repl's explanation of it for the chunk typed
** (text at index 1); a structured error, or an explain that cannot run, leaves it as it is. */
static void explain_error(lua_State *L)
{
	int err = lua_gettop(L);

	if (lua_type(L, err) != LUA_TSTRING || lua_getfield(L, LUA_REGISTRYINDEX, EXPLAIN_KEY) != LUA_TFUNCTION) {
		lua_settop(L, err);
		return;
	}
	lua_pushglobaltable(L);
	lua_pushvalue(L, 1);
	lua_pushvalue(L, err);
	if (lua_pcall(L, 3, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
		lua_replace(L, err);
	lua_settop(L, err);
}

/* After a chunk typed at the prompt (its text at index 1, its results or error above): Ctrl-C is over. A
** signal that came after the chunk ended would leave a hook behind. */
static int finish_chunk(lua_State *L, int status)
{
	int code = 0;

	if (status == LUA_OK)
		print_results(L, 2);
	else {
		explain_error(L);
		code = medic_report(L, "");
	}
	lua_sethook(L, NULL, 0, 0);
	medic_interrupt_set(0);
	lua_settop(L, 0);
	return code;
}

/* {====== non-interactive: all of stdin is one chunk */
static int read_stdin(lua_State *L)
{
	luaL_Buffer b;
	size_t total = 0, n;

	luaL_buffinit(L, &b);
	do {
		char *p = luaL_prepbuffer(&b);
		n = fread(p, 1, LUAL_BUFFERSIZE, stdin);
		luaL_addsize(&b, n);
		total += n;
	} while (n > 0 && total < MAX_STDIN);
	luaL_pushresult(&b);
	return ferror(stdin) ? -1 : 0;
}

static int run_stdin(lua_State *L)
{
	size_t len;

	if (read_stdin(L) != 0) {
		fprintf(stderr, "etcd-medic: cannot read stdin: %s\n", strerror(errno));
		return 1;
	}
	const char *src = lua_tolstring(L, -1, &len);
	const char *ret = lua_pushfstring(L, "return %s;", memchr(src, '\0', len) ? "" : src);
	int as_expr = len > 0 && !memchr(src, '\0', len) &&
		      luaL_loadbufferx(L, ret, strlen(ret), "=stdin", "t") == LUA_OK;
	int status = as_expr ? LUA_OK : (lua_settop(L, 2), medic_load_buffer(L, src, len, "stdin"));
	lua_replace(L, 1);
	lua_settop(L, 1);
	if (status == LUA_OK)
		status = medic_docall(L, 0, LUA_MULTRET);
	if (status != LUA_OK)
		return medic_report(L, "etcd-medic: ");
	print_results(L, 1);
	return 0;
}
/* }====== */

/* {====== history: ~/.etcd_medic_history, or $XDG_STATE_HOME/etcd-medic/history; mode 0600 */
static const char *history_path(char *buf, size_t size)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (state && *state) {
		snprintf(buf, size, "%s/etcd-medic", state);
		if (mkdir(buf, 0700) == 0 || errno == EEXIST) {
			snprintf(buf, size, "%s/etcd-medic/history", state);
			return buf;
		}
	}
	if (!home || !*home)
		return NULL;
	snprintf(buf, size, "%s/.etcd_medic_history", home);
	return buf;
}

static void history_open(const char *path)
{
	int fd;

	stifle_history(1000);
	if (!path || (fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return;
	fchmod(fd, 0600);
	close(fd);
	read_history(path);
}

static void history_add(const char *path, const char *line)
{
	add_history(line);
	if (path && write_history(path) == 0)
		chmod(path, 0600);
}
/* }====== */

/* {====== completion: "k8s.con" -> "k8s.connect(", "kc:ge" -> "kc:get(", globals otherwise */

/* Pushes the value named by the dotted/coloned expression s[0, n) ("a.b.c"), or nil. Run protected:
** __index metamethods may run (that is how handle methods are found) and may raise. */
static void push_path(lua_State *L, const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	lua_pushglobaltable(L);
	while (p < end && !lua_isnil(L, -1)) {
		const char *q = p;
		while (q < end && *q != '.' && *q != ':')
			q++;
		lua_pushlstring(L, p, (size_t)(q - p));
		if (lua_type(L, -2) == LUA_TTABLE || lua_type(L, -2) == LUA_TUSERDATA || lua_type(L, -2) == LUA_TSTRING)
			lua_gettable(L, -2);
		else {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
		lua_remove(L, -2);
		p = q + 1;
	}
}

static int is_identifier(const char *s)
{
	if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return 0;
	for (s++; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

/* Adds prefix..key to the result table (at res) for each string key of the table at -1 matching part, with a
** "(" after a function's name; after ':' only functions; "__" metamethods only when asked for. */
static void add_matches(lua_State *L, int res, const char *prefix, size_t plen, const char *part)
{
	size_t partlen = strlen(part);
	int methods_only = plen > 0 && prefix[plen - 1] == ':';

	if (!lua_istable(L, -1))
		return;
	for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			continue;
		const char *key = lua_tostring(L, -2);
		if (strncmp(key, part, partlen) != 0 || !is_identifier(key))
			continue;
		if ((key[0] == '_' && key[1] == '_' && part[0] != '_') || (methods_only && !lua_isfunction(L, -1)))
			continue;
		lua_pushlstring(L, prefix, plen);
		lua_pushstring(L, key);
		if (lua_isfunction(L, -3))
			lua_pushliteral(L, "(");
		lua_concat(L, lua_isfunction(L, -4) ? 3 : 2);
		lua_pushboolean(L, 1);
		lua_rawset(L, res);
	}
}

/* complete(text) -> {[candidate] = true}: fields of the table, or methods in the metatable's __index. */
static int complete(lua_State *L)
{
	size_t n;
	const char *text = luaL_checklstring(L, 1, &n);
	const char *sep = NULL;

	lua_newtable(L);
	for (const char *p = text; *p; p++)
		if (*p == '.' || *p == ':')
			sep = p;
	const char *part = sep ? sep + 1 : text;
	size_t plen = (size_t)(part - text);
	if (sep)
		push_path(L, text, (size_t)(sep - text));
	else
		lua_pushglobaltable(L);
	for (int depth = 0; depth < 8 && !lua_isnil(L, -1); depth++) {
		add_matches(L, 2, text, plen, part);
		if (!lua_getmetatable(L, -1))
			break;
		lua_getfield(L, -1, "__index");
		lua_remove(L, -2);
		lua_remove(L, -2);
	}
	lua_settop(L, 2);
	return 1;
}

static char *next_candidate(const char *text, int state)
{
	lua_State *L = completion_L;

	if (state == 0) {
		lua_settop(L, 0);
		lua_pushcfunction(L, complete);
		lua_pushstring(L, text);
		if (lua_pcall(L, 1, 1, 0) != LUA_OK)
			lua_newtable(L);
		lua_pushnil(L);
	}
	if (lua_gettop(L) < 2 || !lua_next(L, 1)) {
		lua_settop(L, 0);
		return NULL;
	}
	char *s = strdup(lua_tostring(L, -2));
	lua_pop(L, 1);
	return s;
}

static char **attempt_completion(const char *text, int start, int end)
{
	(void)start;
	(void)end;
	medic_edit_completion_over(); /* never fall back to file names */
	return rl_completion_matches(text, next_candidate);
}
/* }====== */

/* {====== the interactive loop, as lua.c's loadline/addreturn/multiline */
/* A chunk cut short continues on the next line; not a method named without its call ("cluster:members", as
** completion leaves it): that is an error, explained, rather than a silent continuation prompt. */
static int incomplete(lua_State *L, int status)
{
	size_t lmsg;
	const char *msg;

	if (status != LUA_ERRSYNTAX)
		return 0;
	msg = lua_tolstring(L, -1, &lmsg);
	if (strstr(msg, "function arguments expected near " EOFMARK))
		return 0;
	if (lmsg >= sizeof EOFMARK - 1 && strcmp(msg + lmsg - (sizeof EOFMARK - 1), EOFMARK) == 0) {
		lua_pop(L, 1);
		return 1;
	}
	return 0;
}

/* Ctrl-C at the prompt drops the line being typed (as a shell does) instead of ending the REPL. */
static volatile sig_atomic_t prompt_interrupted;

static void on_prompt_sigint(int sig)
{
	(void)sig;
	prompt_interrupted = 1;
}

/* readline, but Ctrl-C gives *cancelled = 1 (and NULL) instead of killing the REPL. The handler stays
** installed for the whole session (see interactive), so a Ctrl-C between two chunks is harmless too. */
static char *read_line(const char *prompt, int *cancelled)
{
	char *line;

	prompt_interrupted = 0;
	line = readline(prompt);
	*cancelled = prompt_interrupted;
	if (*cancelled) {
		free(line);
		fputs("^C\n", stdout);
		return NULL;
	}
	return line;
}

static void catch_prompt_sigint(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_prompt_sigint; /* no SA_RESTART: readline's read returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, old);
}

/* Reads a line (without the newline) onto the stack: 1; 0 at end of input; CANCELLED after Ctrl-C. */
#define CANCELLED 2
static int pushline(lua_State *L, int first)
{
	int cancelled;
	char *line = read_line(first ? PROMPT1 : PROMPT2, &cancelled);

	if (!line)
		return cancelled ? CANCELLED : 0;
	if (first && line[0] == '=')
		lua_pushfstring(L, "return %s", line + 1); /* =expr, the Lua 5.1 way */
	else
		lua_pushstring(L, line);
	free(line);
	return 1;
}

/* "return LINE;" first, so bare expressions print. */
static int addreturn(lua_State *L)
{
	const char *line = lua_tostring(L, -1);
	const char *ret = lua_pushfstring(L, "return %s;", line);
	int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");

	if (status == LUA_OK)
		lua_remove(L, -2);
	else
		lua_pop(L, 2);
	return status;
}

/* Where the text after a leading "local" starts, if dropping it keeps the meaning but makes the names
** global: "local a, b = ..." and "local function f", not "local x <close> = ..." or "local x". NULL if not. */
static const char *after_local(const char *s)
{
	const char *p = s + strspn(s, " \t");

	if (strncmp(p, "local", 5) != 0 || !strchr(" \t", p[5]))
		return NULL;
	p += 5 + strspn(p + 5, " \t");
	if (strncmp(p, "function", 8) == 0 && strchr(" \t", p[8]))
		return p;
	const char *q = p + strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_, \t");
	return q > p && q[0] == '=' && q[1] != '=' ? p : NULL;
}

/* Compiles the chunk at index 1. In the REPL a leading "local" would make the variable vanish with the
** line, so "local kc = k8s.connect{}" is compiled as "kc = k8s.connect{}" (when that compiles too). */
static int load_chunk(lua_State *L)
{
	size_t len;
	const char *chunk = lua_tolstring(L, 1, &len);
	const char *global = after_local(chunk);

	if (global && luaL_loadbuffer(L, global, len - (size_t)(global - chunk), "=stdin") == LUA_OK)
		return LUA_OK;
	if (global)
		lua_pop(L, 1);
	return luaL_loadbuffer(L, chunk, len, "=stdin");
}

/* Keeps reading lines while the chunk is incomplete. The chunk text stays below the function. */
static int multiline(lua_State *L)
{
	for (;;) {
		int status = load_chunk(L), more;
		if (!incomplete(L, status))
			return status;
		if ((more = pushline(L, 0)) != 1)
			return more == CANCELLED ? -2 : -1;
		lua_pushliteral(L, "\n");
		lua_insert(L, -2);
		lua_concat(L, 3);
	}
}

/* Reads and compiles one chunk; leaves the function (or an error) on top and the text at index 1.
** -1 at end of input, -2 when Ctrl-C dropped the chunk. */
static int loadline(lua_State *L)
{
	int status;

	lua_settop(L, 0);
	switch (pushline(L, 1)) {
	case 0: return -1;
	case CANCELLED: return -2;
	}
	if ((status = addreturn(L)) != LUA_OK)
		status = multiline(L);
	return status;
}

/* 0, or 1 if libedit cannot be loaded (the message is on stderr). */
static int interactive(lua_State *L)
{
	char pathbuf[4096];
	const char *hist = history_path(pathbuf, sizeof pathbuf);
	const char *why = medic_edit_open("etcd-medic", " \t\n\"\\'`@$><=;|&{(,+-*/%^~#[]", attempt_completion);
	struct sigaction old_sigint;
	int status;

	if (why) {
		fprintf(stderr, "etcd-medic: the REPL needs line editing: %s\n", why);
		return 1;
	}
	completion_L = L;
	history_open(hist);
	catch_prompt_sigint(&old_sigint);
	printf("etcd-medic %s (Lua %s) -- type help for help, Ctrl-D to leave, Ctrl-C stops what runs\n", MEDIC_VERSION,
	       LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
	while ((status = loadline(L)) != -1) {
		if (status == -2) /* Ctrl-C while typing: drop the chunk */
			continue;
		if (lua_gettop(L) >= 1 && lua_type(L, 1) == LUA_TSTRING && lua_rawlen(L, 1) > 0)
			history_add(hist, lua_tostring(L, 1));
		if (status == LUA_OK)
			status = medic_docall(L, 0, LUA_MULTRET);
		finish_chunk(L, status);
	}
	lua_settop(L, 0);
	putchar('\n');
	sigaction(SIGINT, &old_sigint, NULL);
	completion_L = NULL;
	return 0;
}
/* }====== */

int medic_repl(lua_State *L)
{
	lua_settop(L, 0);
	lua_pushcfunction(L, setup_globals);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		fprintf(stderr, "etcd-medic: REPL setup: %s\n", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	if (!isatty(STDIN_FILENO))
		return run_stdin(L);
	lua_settop(L, 0);
	return interactive(L);
}
