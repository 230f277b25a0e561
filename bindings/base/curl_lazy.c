/* libcurl, loaded on first use. Linking -lcurl made the dynamic loader map and bind libcurl's whole dependency
 * tree (41 shared objects: LDAP, Kerberos, GnuTLS, libssh2, ...) at every start, and curl_global_init read
 * OpenSSL's configuration: 14.8 M of the 16.6 M instructions of `etcd-medic -e ''`. Here the curl_* functions
 * the code calls are defined as thin forwarders to a table filled by dlopen + dlsym on the first call, which
 * also runs the real curl_global_init once. The rest of the code calls libcurl as usual.
 *
 * The forwarders have hidden visibility: they are never exported, so libcurl's own calls to its exported
 * functions (curl_slist_append, ...) can never bind to them. The loading itself is bindings/base/lazylib.c. */
#define CURL_DISABLE_TYPECHECK 1 /* the type-checking macros would rename the definitions below */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include "base/crypto_lazy.h"
#include "base/curl_lazy.h"
#include "base/lazylib.h"

#define LIBCURL "libcurl.so.4"
#define FORWARDER __attribute__((visibility("hidden")))
#define REAL LAZYLIB_REAL

#define CURL_FUNCTIONS(X)                                                                                    \
	X(curl_global_init) X(curl_global_cleanup) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset)  \
	X(curl_easy_perform) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_strerror)                  \
	X(curl_easy_send) X(curl_easy_recv) X(curl_slist_append) X(curl_slist_free_all) X(curl_url)          \
	X(curl_url_set) X(curl_url_get) X(curl_url_cleanup) X(curl_free) X(curl_share_init)        \
	X(curl_share_setopt) X(curl_share_cleanup)

LAZYLIB_TABLE(CURL_FUNCTIONS);

/* RTLD_LAZY binds libcurl's tree as linking -lcurl did: libraries built with -z now (most of Debian's) are
 * bound in full at load, the others on first call. RTLD_NOW would also bind every unused function of the
 * others (LDAP, RTMP, ...): 3.2 M more instructions for each command that talks to the network. A missing
 * library or one of the functions above still fails at load, with dlerror's text. */
static struct lazylib lib = LAZYLIB_INIT(LIBCURL, RTLD_LAZY);

static void load(void)
{
	medic_crypto_load(); /* first, as it is cheaper (crypto_lazy.h); if it fails, so does libcurl, below */
	if (!lazylib_open(&lib))
		return;
	if (REAL(curl_global_init)(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		lazylib_fail(&lib, "curl_global_init failed"); /* no dlclose: it may have registered handlers */
	else
		lib.loaded = true;
}

/* Loads libcurl if this is the first call; true if it is usable. */
static bool ready(void)
{
	return lazylib_ready(&lib, load);
}

bool medic_curl_loaded(void)
{
	return lib.loaded;
}

const char *medic_curl_error(void)
{
	return lazylib_error(&lib);
}

/* libcurl is initialised once, when it is loaded; this only loads it. */
FORWARDER CURLcode curl_global_init(long flags)
{
	return ready() ? CURLE_OK : CURLE_FAILED_INIT;
}

FORWARDER void curl_global_cleanup(void)
{
	if (lib.loaded)
		REAL(curl_global_cleanup)();
}

FORWARDER CURL *curl_easy_init(void)
{
	return ready() ? REAL(curl_easy_init)() : NULL;
}

/* The release functions never load: without libcurl there is nothing of its to release. */
FORWARDER void curl_easy_cleanup(CURL *h)
{
	if (lib.loaded)
		REAL(curl_easy_cleanup)(h);
}

FORWARDER void curl_easy_reset(CURL *h)
{
	if (lib.loaded)
		REAL(curl_easy_reset)(h);
}

FORWARDER CURLcode curl_easy_perform(CURL *h)
{
	return ready() ? REAL(curl_easy_perform)(h) : CURLE_FAILED_INIT;
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
		rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, curl_off_t));
	else
		rc = REAL(curl_easy_setopt)(h, opt, va_arg(ap, void *));
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
	rc = REAL(curl_easy_getinfo)(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

FORWARDER const char *curl_easy_strerror(CURLcode rc)
{
	return ready() ? REAL(curl_easy_strerror)(rc) : LIBCURL " could not be loaded";
}

FORWARDER CURLcode curl_easy_send(CURL *h, const void *buf, size_t len, size_t *n)
{
	return ready() ? REAL(curl_easy_send)(h, buf, len, n) : CURLE_FAILED_INIT;
}

FORWARDER CURLcode curl_easy_recv(CURL *h, void *buf, size_t len, size_t *n)
{
	return ready() ? REAL(curl_easy_recv)(h, buf, len, n) : CURLE_FAILED_INIT;
}

FORWARDER struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return ready() ? REAL(curl_slist_append)(list, s) : NULL;
}

FORWARDER void curl_slist_free_all(struct curl_slist *list)
{
	if (lib.loaded)
		REAL(curl_slist_free_all)(list);
}

FORWARDER CURLU *curl_url(void)
{
	return ready() ? REAL(curl_url)() : NULL;
}

FORWARDER CURLUcode curl_url_set(CURLU *u, CURLUPart part, const char *s, unsigned int flags)
{
	return ready() ? REAL(curl_url_set)(u, part, s, flags) : CURLUE_BAD_HANDLE;
}

FORWARDER CURLUcode curl_url_get(CURLU *u, CURLUPart part, char **s, unsigned int flags)
{
	return ready() ? REAL(curl_url_get)(u, part, s, flags) : CURLUE_BAD_HANDLE;
}

FORWARDER void curl_url_cleanup(CURLU *u)
{
	if (lib.loaded)
		REAL(curl_url_cleanup)(u);
}

FORWARDER void curl_free(void *p)
{
	if (lib.loaded)
		REAL(curl_free)(p);
}

FORWARDER CURLSH *curl_share_init(void)
{
	return ready() ? REAL(curl_share_init)() : NULL;
}

/* The options the code uses (CURLSHOPT_SHARE, CURLSHOPT_UNSHARE) take an int. */
FORWARDER CURLSHcode curl_share_setopt(CURLSH *sh, CURLSHoption opt, ...)
{
	va_list ap;
	CURLSHcode rc;

	if (!ready())
		return CURLSHE_NOT_BUILT_IN;
	va_start(ap, opt);
	rc = REAL(curl_share_setopt)(sh, opt, va_arg(ap, int));
	va_end(ap);
	return rc;
}

FORWARDER CURLSHcode curl_share_cleanup(CURLSH *sh)
{
	return lib.loaded ? REAL(curl_share_cleanup)(sh) : CURLSHE_OK;
}
