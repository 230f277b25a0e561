#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/curl_lazy.h"
#include "base/http.h"
#include "base/http_internal.h"
#include "base/interrupt.h"
#include "base/log.h"

/* A CONNECT_ONLY connection: libcurl does DNS, proxy, TCP and TLS with the client's settings; the caller
 * then speaks its own protocol (the WebSocket upgrade) with curl_easy_send/curl_easy_recv. Waits poll the
 * socket in short slices so Ctrl-C and the deadline are noticed. */

#define SLICE_MS 200

struct http_raw {
	CURL *easy;
	curl_socket_t sock;
	struct curl_slist *connect_to;
	char errbuf[CURL_ERROR_SIZE];
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct http_raw *http_raw_open(struct http_client *c, const char *url, long timeout_ms, struct http_response *resp)
{
	struct http_raw *r = calloc(1, sizeof *r);
	char *rewritten = NULL;
	CURLcode rc;

	memset(resp, 0, sizeof *resp);
	resp->retry_after_s = -1;
	if (!r || !(r->easy = curl_easy_init()) ||
	    http_apply_server_name(c, url, &rewritten, &r->connect_to) != 0) {
		resp->error = HTTP_ERR_OTHER;
		snprintf(resp->errmsg, sizeof resp->errmsg, "cannot open a connection to %.100s%s%.140s", url,
			 medic_curl_error() ? ": " : "", medic_curl_error() ? medic_curl_error() : "");
		http_raw_close(r);
		return NULL;
	}
	http_apply_client(c, r->easy);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_URL, rewritten ? rewritten : url);
	if (r->connect_to)
		curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, r->connect_to);
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(r->easy, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : c->connect_timeout_ms);
	rc = curl_easy_perform(r->easy);
	free(rewritten);
	if (rc == CURLE_OK && curl_easy_getinfo(r->easy, CURLINFO_ACTIVESOCKET, &r->sock) == CURLE_OK &&
	    r->sock != CURL_SOCKET_BAD)
		return r;
	resp->error = rc == CURLE_ABORTED_BY_CALLBACK ? HTTP_ERR_INTERRUPTED : http_classify(rc, 0);
	if (resp->error == HTTP_OK)
		resp->error = HTTP_ERR_OTHER;
	snprintf(resp->errmsg, sizeof resp->errmsg, "connect %.100s: %.140s", http_url_path(url),
		 r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
	http_raw_close(r);
	return NULL;
}

/* Waits until the socket is ready for events or the slice ends; -1 on interrupt. */
static int wait_socket(struct http_raw *r, short events, long ms)
{
	struct pollfd p = {.fd = r->sock, .events = events};

	if (medic_interrupted())
		return -1;
	if (poll(&p, 1, (int)(ms < SLICE_MS ? ms : SLICE_MS)) < 0 && errno != EINTR)
		return -1;
	return medic_interrupted() ? -1 : 0;
}

enum http_error http_raw_send(struct http_raw *r, const void *buf, size_t len, char *errmsg, size_t errlen)
{
	const char *p = buf;
	long deadline = now_ms() + 30000;

	while (len > 0) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(r->easy, p, len, &n);
		if (rc == CURLE_OK) {
			p += n;
			len -= n;
			continue;
		}
		if (rc != CURLE_AGAIN) {
			snprintf(errmsg, errlen, "send: %s", curl_easy_strerror(rc));
			return HTTP_ERR_IO;
		}
		if (now_ms() > deadline) {
			snprintf(errmsg, errlen, "send: timed out");
			return HTTP_ERR_TIMEOUT;
		}
		if (wait_socket(r, POLLOUT, deadline - now_ms()) < 0) {
			snprintf(errmsg, errlen, "interrupted");
			return HTTP_ERR_INTERRUPTED;
		}
	}
	return HTTP_OK;
}

enum http_error http_raw_recv(struct http_raw *r, void *buf, size_t cap, size_t *got, long timeout_ms,
			      char *errmsg, size_t errlen)
{
	long deadline = now_ms() + timeout_ms;

	*got = 0;
	for (;;) {
		CURLcode rc = curl_easy_recv(r->easy, buf, cap, got);
		if (rc == CURLE_OK)
			return HTTP_OK; /* *got == 0: the peer closed */
		if (rc != CURLE_AGAIN) {
			snprintf(errmsg, errlen, "receive: %s", curl_easy_strerror(rc));
			return HTTP_ERR_IO;
		}
		long left = deadline - now_ms();
		if (left <= 0) {
			snprintf(errmsg, errlen, "no data for %ld ms", timeout_ms);
			return HTTP_ERR_TIMEOUT;
		}
		if (wait_socket(r, POLLIN, left) < 0) {
			snprintf(errmsg, errlen, "interrupted");
			return HTTP_ERR_INTERRUPTED;
		}
	}
}

void http_raw_close(struct http_raw *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->connect_to);
	free(r);
}
