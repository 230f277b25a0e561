/* Shared libraries loaded on first use: see lazylib.h. The table and the flags are process-wide state, like
 * the libraries' own global initialisation; pthread_once makes the load safe even if two threads ever race
 * to it. A failed dlopen or dlsym leaves dlerror's text, which names the library and the reason. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "base/lazylib.h"

bool lazylib_ready(struct lazylib *l, void (*load)(void))
{
	pthread_once(&l->once, load);
	return l->loaded;
}

bool lazylib_fail(struct lazylib *l, const char *why)
{
	snprintf(l->error, sizeof l->error, "%s could not be loaded: %s", l->soname, why ? why : "unknown error");
	l->loaded = false;
	return false;
}

bool lazylib_open(struct lazylib *l)
{
	void *lib = dlopen(l->soname, l->mode | RTLD_LOCAL), *sym;

	if (!lib)
		return lazylib_fail(l, dlerror());
	for (size_t i = 0; i < l->count; i++) {
		if (!(sym = dlsym(lib, l->names[i]))) {
			lazylib_fail(l, dlerror());
			dlclose(lib);
			return false;
		}
		memcpy(&l->table[i], &sym, sizeof sym); /* POSIX: a function's address fits in a void * */
	}
	l->handle = lib;
	return true;
}

const char *lazylib_error(const struct lazylib *l)
{
	return l->error[0] ? l->error : NULL;
}
