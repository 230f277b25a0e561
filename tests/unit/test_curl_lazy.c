/* libcurl loaded on first use (bindings/base/curl_lazy.c): nothing is mapped before the first call, every class
 * of option crosses the variadic forwarders intact (a file:// transfer of a temporary file), and an
 * unloadable libcurl.so.4 gives a clear error instead of a crash. The tests run in order in one process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/curl_lazy.h"
#include "base/http.h"
#include "unloadable.h"

#define CONTENT "0123456789abcdef"

static char dir[] = "/tmp/medic-curl-lazy-XXXXXX";
static char file[128], url[160];

static int make_file(void **state)
{
	FILE *f;

	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof file, "%s/data", dir);
	snprintf(url, sizeof url, "file://%s", file);
	if (!(f = fopen(file, "w")))
		return -1;
	fputs(CONTENT, f);
	return fclose(f);
}

static int remove_file(void **state)
{
	char bogus[160];

	snprintf(bogus, sizeof bogus, "%s/libcurl.so.4", dir);
	unlink(bogus);
	unlink(file);
	return rmdir(dir);
}

/* Whether libcurl.so.4 is mapped into this process, without loading it. */
static int libcurl_mapped(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

static void nothing_loaded_before_use(void **state)
{
	assert_false(medic_curl_loaded());
	assert_false(libcurl_mapped());
	/* releasing nothing must not load anything */
	curl_easy_cleanup(NULL);
	curl_slist_free_all(NULL);
	curl_free(NULL);
	curl_url_cleanup(NULL);
	curl_global_cleanup();
	assert_false(medic_curl_loaded());
	assert_false(libcurl_mapped());
	assert_null(medic_curl_error());
}

/* Our forwarders are not exported and libcurl is loaded RTLD_LOCAL: libcurl's calls to its own exported
 * functions (curl_slist_append, ...) resolve to libcurl, never to a forwarder that would call back into it. */
static void forwarders_not_exported(void **state)
{
	assert_null(dlsym(RTLD_DEFAULT, "curl_easy_setopt"));
	assert_null(dlsym(RTLD_DEFAULT, "curl_slist_append"));
}

static void loads_on_first_use(void **state)
{
	CURL *e = curl_easy_init();

	assert_non_null(e);
	assert_true(medic_curl_loaded());
	assert_true(libcurl_mapped());
	assert_null(medic_curl_error());
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
	curl_easy_cleanup(e);
}

struct sink {
	char buf[64];
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t len = size * n;

	if (len > sizeof s->buf - 1 - s->len)
		return 0;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return len;
}

/* Strings, pointers, function pointers, longs and off_t values each reach libcurl intact. */
static void options_of_every_type(void **state)
{
	CURL *e = curl_easy_init();
	struct sink s = {.len = 0};
	char *effective = NULL;
	void *priv = NULL;
	curl_off_t got = 0;

	assert_non_null(e);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_URL, url), CURLE_OK);                   /* string */
	assert_int_equal(curl_easy_setopt(e, CURLOPT_PRIVATE, &s), CURLE_OK);                 /* pointer */
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect), CURLE_OK);      /* function */
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEDATA, &s), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_RESUME_FROM, 4L), CURLE_OK);             /* long */
	assert_int_equal(curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)1 << 40), CURLE_OK);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	s.buf[s.len] = '\0';
	assert_string_equal(s.buf, &CONTENT[4]);
	assert_int_equal(curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &effective), CURLE_OK);
	assert_string_equal(effective, url);
	assert_int_equal(curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv), CURLE_OK);
	assert_ptr_equal(priv, &s);
	assert_int_equal(curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
	assert_int_equal(got, strlen(CONTENT) - 4);

	/* off_t: the same transfer resumed from a later offset */
	curl_easy_reset(e);
	s.len = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)10), CURLE_OK);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	s.buf[s.len] = '\0';
	assert_string_equal(s.buf, &CONTENT[10]);
	curl_easy_cleanup(e);
}

static void lists_and_urls(void **state)
{
	struct curl_slist *l = curl_slist_append(NULL, "A: 1");
	CURLU *u = curl_url();
	char *host = NULL;

	assert_non_null(l);
	assert_non_null(l = curl_slist_append(l, "B: 2"));
	assert_string_equal(l->next->data, "B: 2");
	curl_slist_free_all(l);
	assert_non_null(u);
	assert_int_equal(curl_url_set(u, CURLUPART_URL, "https://example.test:2379/v3/x", 0), CURLUE_OK);
	assert_int_equal(curl_url_get(u, CURLUPART_HOST, &host, 0), CURLUE_OK);
	assert_string_equal(host, "example.test");
	curl_free(host);
	curl_url_cleanup(u);
}

/* Run in a child whose LD_LIBRARY_PATH names a directory with an empty libcurl.so.4. */
static int unloadable_child(void)
{
	struct http_client_opts o = {.timeout_ms = 0};
	char err[256] = "";
	const char *why;

	if (curl_easy_init() != NULL || medic_curl_loaded() || curl_slist_append(NULL, "x") != NULL ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_FAILED_INIT)
		return 10;
	why = medic_curl_error();
	if (!why || strncmp(why, "libcurl.so.4 could not be loaded: ", 34) != 0 || !strstr(why, "libcurl.so.4"))
		return 11;
	if (strcmp(curl_easy_strerror(CURLE_OK), "libcurl.so.4 could not be loaded") != 0)
		return 12;
	if (http_client_new(&o, err, sizeof err) != NULL || strcmp(err, why) != 0)
		return 13;
	curl_global_cleanup();
	return 0;
}

static void unloadable_library_is_a_clear_error(void **state)
{
	char bogus[160];

	snprintf(bogus, sizeof bogus, "%s/libcurl.so.4", dir);
	assert_child_passes_with_broken_library(dir, bogus, "test_curl_lazy");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_loaded_before_use),
		cmocka_unit_test(forwarders_not_exported),
		cmocka_unit_test(loads_on_first_use),
		cmocka_unit_test(forwarders_not_exported),
		cmocka_unit_test(options_of_every_type),
		cmocka_unit_test(lists_and_urls),
		cmocka_unit_test(unloadable_library_is_a_clear_error),
	};

	if (argc == 2 && strcmp(argv[1], "--unloadable") == 0)
		return unloadable_child();
	int rc = cmocka_run_group_tests(tests, make_file, remove_file);
	curl_global_cleanup();
	return rc;
}
