#ifndef MEDIC_CURL_LAZY_H
#define MEDIC_CURL_LAZY_H
#include <stdbool.h>

/* libcurl is loaded on first use (bindings/base/curl_lazy.c): the curl_* functions the code calls are forwarders
 * that dlopen libcurl.so.4 and run curl_global_init once on their first call. Start-up and a REPL that never
 * talks to the network skip the loader's work on libcurl's dependency tree. If the library cannot be
 * loaded, curl_easy_init/curl_slist_append/curl_url return NULL and curl_global_init CURLE_FAILED_INIT;
 * nothing aborts. curl_global_cleanup is a no-op unless libcurl was loaded. */

/* True once libcurl has been loaded and initialised. */
bool medic_curl_loaded(void);

/* "libcurl.so.4 could not be loaded: <dlerror>" after a failed load, else NULL. */
const char *medic_curl_error(void);

#endif
