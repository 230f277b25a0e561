/* libedit, loaded when the interactive REPL starts. Linking -ledit made the dynamic loader map and bind
 * libedit, libtinfo, libbsd and libmd at every start: 0.5 M of the 1.2 M instructions of `etcd-medic -e ''`
 * (callgrind), for a line editor that only a session on a terminal uses. The loading is bindings/base/lazylib.c;
 * the forwarders are hidden, so libedit's calls to its own functions never bind to them. */
#include <dlfcn.h>
#include "base/lazylib.h"
#include "edit_lazy.h"

#define LIBEDIT "libedit.so.2"
#define FORWARDER __attribute__((visibility("hidden")))
#define REAL LAZYLIB_REAL

#define EDIT_FUNCTIONS(X)                                                                                    \
	X(readline) X(add_history) X(stifle_history) X(read_history) X(write_history) X(rl_completion_matches)

LAZYLIB_TABLE(EDIT_FUNCTIONS);

static struct lazylib lib = LAZYLIB_INIT(LIBEDIT, RTLD_LAZY);

/* libedit's variables the REPL sets, found at load. */
static struct {
	const char **readline_name, **word_breaks;
	rl_completion_func_t **attempted_completion;
	int *completion_over, *append_character;
} var;

static void load(void)
{
	if (!lazylib_open(&lib))
		return;
	if (!(var.readline_name = dlsym(lib.handle, "rl_readline_name")) ||
	    !(var.word_breaks = dlsym(lib.handle, "rl_basic_word_break_characters")) ||
	    !(var.attempted_completion = dlsym(lib.handle, "rl_attempted_completion_function")) ||
	    !(var.completion_over = dlsym(lib.handle, "rl_attempted_completion_over")) ||
	    !(var.append_character = dlsym(lib.handle, "rl_completion_append_character")))
		lazylib_fail(&lib, dlerror());
	else
		lib.loaded = true;
}

/* Loads libedit if this is the first call; true if it is usable. */
static bool ready(void)
{
	return lazylib_ready(&lib, load);
}

const char *medic_edit_open(const char *name, const char *word_breaks, rl_completion_func_t *complete)
{
	if (!ready())
		return lazylib_error(&lib);
	*var.readline_name = name;
	*var.word_breaks = word_breaks;
	*var.attempted_completion = complete;
	*var.append_character = '\0';
	return NULL;
}

void medic_edit_completion_over(void)
{
	if (ready())
		*var.completion_over = 1;
}

FORWARDER char *readline(const char *prompt)
{
	return ready() ? REAL(readline)(prompt) : NULL;
}

FORWARDER int add_history(const char *line)
{
	return ready() ? REAL(add_history)(line) : -1;
}

FORWARDER void stifle_history(int max)
{
	if (ready())
		REAL(stifle_history)(max);
}

FORWARDER int read_history(const char *path)
{
	return ready() ? REAL(read_history)(path) : -1;
}

FORWARDER int write_history(const char *path)
{
	return ready() ? REAL(write_history)(path) : -1;
}

FORWARDER char **rl_completion_matches(const char *text, rl_compentry_func_t *entry)
{
	return ready() ? REAL(rl_completion_matches)(text, entry) : NULL;
}
