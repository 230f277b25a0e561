#ifndef MEDIC_LAZYLIB_H
#define MEDIC_LAZYLIB_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* A shared library loaded on first use, not at start-up. Linking a library makes the dynamic loader map and
 * bind it (and its dependencies) at every start, even for `etcd-medic -e ''`; a library behind a lazylib is
 * opened when one of its forwarders is first called. The forwarders (curl_lazy.c, crypto_lazy.c) keep the
 * library's own names and prototypes, with hidden visibility so that no loaded library ever binds to them,
 * and call through a table this unit fills with dlsym. A library that cannot be loaded is an error text, kept
 * for the callers' messages, never an abort.
 *
 * A library file declares its function list as an X-macro and LAZYLIB_TABLE(list) for the table, then
 * calls the real function as LAZYLIB_REAL(name)(...). */

typedef void (*lazylib_fn)(void); /* any function; cast back to its own type by LAZYLIB_REAL */

struct lazylib {
	const char *soname;             /* "libcrypto.so.3" */
	int mode;                       /* dlopen's RTLD_LAZY or RTLD_NOW; RTLD_LOCAL is always added */
	const char *const *names;       /* the functions to resolve */
	lazylib_fn *table;              /* where they go, in the same order */
	size_t count;
	void *handle;                   /* dlopen's, once open (for a library's variables: dlsym) */
	pthread_once_t once;            /* PTHREAD_ONCE_INIT */
	bool loaded;                    /* set by the library file's load function when the library is usable */
	char error[320];                /* "<soname> could not be loaded: <why>", or "" */
};

#define LAZYLIB_INDEX_(name) lazylib_index_##name,
#define LAZYLIB_NAME_(name) #name,
#define LAZYLIB_TABLE(LIST)                                                                                  \
	enum { LIST(LAZYLIB_INDEX_) lazylib_count };                                                         \
	static const char *const lazylib_names[lazylib_count] = {LIST(LAZYLIB_NAME_)};                        \
	static lazylib_fn lazylib_table[lazylib_count]
#define LAZYLIB_REAL(name) ((__typeof__(name) *)lazylib_table[lazylib_index_##name])
#define LAZYLIB_INIT(soname_, mode_)                                                                         \
	{                                                                                                    \
		.soname = (soname_), .mode = (mode_), .names = lazylib_names, .table = lazylib_table,        \
		.count = lazylib_count, .once = PTHREAD_ONCE_INIT                                            \
	}

/* Runs load (a function of the library's file that calls lazylib_open and sets l->loaded) once in the
 * process, on the first call; true if the library is usable. */
bool lazylib_ready(struct lazylib *l, void (*load)(void));

/* dlopens the library and resolves every name into the table; false with l->error set if the library or
 * one of the names is missing. Does not set l->loaded: the caller may have initialisation to run first. */
bool lazylib_open(struct lazylib *l);

/* Sets l->error to "<soname> could not be loaded: <why>" and clears l->loaded; returns false. */
bool lazylib_fail(struct lazylib *l, const char *why);

/* The error text after a failed load, else NULL. */
const char *lazylib_error(const struct lazylib *l);

#endif
