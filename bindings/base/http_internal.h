#ifndef MEDIC_HTTP_INTERNAL_H
#define MEDIC_HTTP_INTERNAL_H
#include <curl/curl.h>
#include "base/http.h"
#include "base/tls_material.h"

/* Shared by http.c and http_raw.c only; callers use http.h. */
struct http_client {
	CURL *easy;
	CURLSH *share; /* TLS sessions and DNS, shared with the client's raw connections (http_raw.c) */
	struct tls_material *tls; /* ca/cert/key parsed once (tls_material.h), or NULL: libcurl parses the blobs */
	char *ca, *cert, *key;
	size_t ca_len, cert_len, key_len;
	char *server_name, *proxy;
	int insecure;
	long connect_timeout_ms, timeout_ms;
	size_t max_body;
	char errbuf[CURL_ERROR_SIZE];
};

void http_apply_client(struct http_client *c, CURL *e);
int http_apply_server_name(struct http_client *c, const char *url, char **out_url, struct curl_slist **connect_to);
enum http_error http_classify(CURLcode rc, int sent);
long http_parse_retry_after(const char *v, size_t len);

#endif
