/* libcurl, loaded on first use. Linking -lcurl made the dynamic loader map and bind libcurl's whole dependency
 * tree (41 shared objects: LDAP, Kerberos, GnuTLS, libssh2, ...) at every start, and curl_global_init read
 * OpenSSL's configuration: 14.8 M of the 16.6 M instructions of `etcd-medic -e ''`. Here the curl_* functions
 * the code calls are defined as thin forwarders to a table filled by dlopen + dlsym on the first call, which
 * also runs the real curl_global_init once. The rest of the code calls libcurl as usual.
 *
 * The forwarders have hidden visibility: they are never exported, so libcurl's own calls to its exported
 * functions (curl_slist_append, ...) can never bind to them. The table is process-wide state, like libcurl's
 * own global init; pthread_once makes the load safe even if two threads ever race to it. */
#define CURL_DISABLE_TYPECHECK 1 /* the type-checking macros would rename the definitions below */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "curl_lazy.h"

#define LIBCURL "libcurl.so.4"
#define FORWARDER __attribute__((visibility("hidden")))

#define CURL_FUNCTIONS(X)                                                                                    \
	X(curl_global_init) X(curl_global_cleanup) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset)  \
	X(curl_easy_perform) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_strerror)                  \
	X(curl_easy_send) X(curl_easy_recv) X(curl_slist_append) X(curl_slist_free_all) X(curl_url)          \
	X(curl_url_set) X(curl_url_get) X(curl_url_cleanup) X(curl_free)

static struct {
#define MEMBER(name) __typeof__(name) *name;
	CURL_FUNCTIONS(MEMBER)
#undef MEMBER
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[320];

/* RTLD_LAZY binds libcurl's tree as linking -lcurl did: libraries built with -z now (most of Debian's) are
 * bound in full at load, the others on first call. RTLD_NOW would also bind every unused function of the
 * others (LDAP, RTMP, ...): 3.2 M more instructions for each command that talks to the network. A missing
 * library or one of the functions below still fails here, with dlerror's text. */
static void load(void)
{
	void *lib = dlopen(LIBCURL, RTLD_LAZY | RTLD_LOCAL), *sym;

	if (!lib) {
		snprintf(load_error, sizeof load_error, LIBCURL " could not be loaded: %s", dlerror());
		return;
	}
#define RESOLVE(name)                                                                                         \
	if (!(sym = dlsym(lib, #name))) {                                                                    \
		snprintf(load_error, sizeof load_error, LIBCURL " could not be loaded: %s", dlerror());     \
		dlclose(lib);                                                                                \
		return;                                                                                      \
	}                                                                                                    \
	memcpy(&api.name, &sym, sizeof sym);
	CURL_FUNCTIONS(RESOLVE)
#undef RESOLVE
	if (api.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof load_error, LIBCURL " could not be loaded: curl_global_init failed");
		return; /* no dlclose: a half-initialised libcurl may have registered handlers */
	}
	loaded = true;
}

/* Loads libcurl if this is the first call; true if it is usable. */
static bool ready(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

bool medic_curl_loaded(void)
{
	return loaded;
}

const char *medic_curl_error(void)
{
	return load_error[0] ? load_error : NULL;
}

/* libcurl is initialised once, when it is loaded; this only loads it. */
FORWARDER CURLcode curl_global_init(long flags)
{
	return ready() ? CURLE_OK : CURLE_FAILED_INIT;
}

FORWARDER void curl_global_cleanup(void)
{
	if (loaded)
		api.curl_global_cleanup();
}

FORWARDER CURL *curl_easy_init(void)
{
	return ready() ? api.curl_easy_init() : NULL;
}

/* The release functions never load: without libcurl there is nothing of its to release. */
FORWARDER void curl_easy_cleanup(CURL *h)
{
	if (loaded)
		api.curl_easy_cleanup(h);
}

FORWARDER void curl_easy_reset(CURL *h)
{
	if (loaded)
		api.curl_easy_reset(h);
}

FORWARDER CURLcode curl_easy_perform(CURL *h)
{
	return ready() ? api.curl_easy_perform(h) : CURLE_FAILED_INIT;
}

/* The one variadic argument's type follows from the option's number (curl.h's CURLOPTTYPE_* ranges). */
FORWARDER CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = api.curl_easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.curl_easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = api.curl_easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = api.curl_easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = api.curl_easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
FORWARDER CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = api.curl_easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

FORWARDER const char *curl_easy_strerror(CURLcode rc)
{
	return ready() ? api.curl_easy_strerror(rc) : LIBCURL " could not be loaded";
}

FORWARDER CURLcode curl_easy_send(CURL *h, const void *buf, size_t len, size_t *n)
{
	return ready() ? api.curl_easy_send(h, buf, len, n) : CURLE_FAILED_INIT;
}

FORWARDER CURLcode curl_easy_recv(CURL *h, void *buf, size_t len, size_t *n)
{
	return ready() ? api.curl_easy_recv(h, buf, len, n) : CURLE_FAILED_INIT;
}

FORWARDER struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return ready() ? api.curl_slist_append(list, s) : NULL;
}

FORWARDER void curl_slist_free_all(struct curl_slist *list)
{
	if (loaded)
		api.curl_slist_free_all(list);
}

FORWARDER CURLU *curl_url(void)
{
	return ready() ? api.curl_url() : NULL;
}

FORWARDER CURLUcode curl_url_set(CURLU *u, CURLUPart part, const char *s, unsigned int flags)
{
	return ready() ? api.curl_url_set(u, part, s, flags) : CURLUE_BAD_HANDLE;
}

FORWARDER CURLUcode curl_url_get(CURLU *u, CURLUPart part, char **s, unsigned int flags)
{
	return ready() ? api.curl_url_get(u, part, s, flags) : CURLUE_BAD_HANDLE;
}

FORWARDER void curl_url_cleanup(CURLU *u)
{
	if (loaded)
		api.curl_url_cleanup(u);
}

FORWARDER void curl_free(void *p)
{
	if (loaded)
		api.curl_free(p);
}
