#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/curl_lazy.h"
#include "base/errors.h"
#include "base/http.h"
#include "base/http_internal.h"
#include "base/interrupt.h"
#include "base/log.h"

/* The libcurl client behind http.h. One easy handle per client keeps its connections alive between calls;
 * curl_easy_reset before each request clears per-request options but keeps the live connections, the TLS
 * session cache and the DNS cache, so every request starts from the client's settings alone. */

#define DEFAULT_CONNECT_MS 10000L
#define DEFAULT_TIMEOUT_MS 60000L
#define DEFAULT_MAX_BODY ((size_t)64 << 20)

static char *dup_mem(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static char *dup_str(const char *s)
{
	return s ? dup_mem(s, strlen(s)) : NULL;
}

static int copy_blob(const char *src, size_t len, char **dst, size_t *dstlen)
{
	*dst = NULL;
	*dstlen = 0;
	if (!src)
		return 0;
	if (len == 0)
		len = strlen(src);
	*dst = dup_mem(src, len);
	*dstlen = len;
	return *dst ? 0 : -1;
}

/* One TLS session cache for all of a client's connections: a WebSocket exec opens a connection of its own
 * (http_raw.c), and resuming the session skips the server's certificate chain (its parsing and signature
 * checks), most of a full handshake's CPU time. */
static CURLSH *new_share(void)
{
	CURLSH *sh = curl_share_init();

	if (sh && (curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
		   curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)) {
		curl_share_cleanup(sh);
		return NULL;
	}
	return sh;
}

struct http_client *http_client_new(const struct http_client_opts *opts, char *errmsg, size_t errlen)
{
	struct http_client *c = calloc(1, sizeof *c);
	const struct http_tls *t = &opts->tls;

	if (!c) {
		snprintf(errmsg, errlen, "out of memory");
		return NULL;
	}
	if ((t->cert_pem != NULL) != (t->key_pem != NULL)) {
		snprintf(errmsg, errlen, "a client certificate needs a key and a key needs a certificate");
		free(c);
		return NULL;
	}
	c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->max_body = opts->max_body > 0 ? opts->max_body : DEFAULT_MAX_BODY;
	c->insecure = t->insecure;
	c->easy = curl_easy_init();
	c->share = c->easy ? new_share() : NULL;
	if (!c->easy || !c->share || copy_blob(t->ca_pem, t->ca_len, &c->ca, &c->ca_len) ||
	    copy_blob(t->cert_pem, t->cert_len, &c->cert, &c->cert_len) ||
	    copy_blob(t->key_pem, t->key_len, &c->key, &c->key_len) ||
	    (t->server_name && !(c->server_name = dup_str(t->server_name))) ||
	    (opts->proxy && !(c->proxy = dup_str(opts->proxy)))) {
		snprintf(errmsg, errlen, "%s", !c->easy && medic_curl_error() ? medic_curl_error() : "out of memory");
		http_client_free(c);
		return NULL;
	}
	if (!c->insecure && (c->ca || c->cert))
		c->tls = tls_material_new(c->ca, c->ca_len, c->cert, c->cert_len, c->key, c->key_len);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->share)
		curl_share_cleanup(c->share);
	tls_material_free(c->tls);
	free(c->ca);
	free(c->cert);
	if (c->key) {
		memset(c->key, 0, c->key_len);
		free(c->key);
	}
	free(c->server_name);
	free(c->proxy);
	free(c);
}

void http_response_free(struct http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	free(resp->content_type);
	resp->body = NULL;
	resp->content_type = NULL;
}

/* Per-transfer state shared by the libcurl callbacks. */
struct transfer {
	CURL *easy;
	const struct http_request *req;
	struct http_response *resp;
	size_t max_body;
	size_t cap;
	int too_large, stopped;
};

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	struct http_response *r = t->resp;
	size_t len = size * n;

	long status = 0;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (t->req->on_data && status >= 200 && status < 300) {
		if (t->req->on_data(t->req->on_data_ud, data, len) != 0) {
			t->stopped = 1;
			return 0;
		}
		return len;
	}
	if (r->body_len + len > t->max_body) {
		t->too_large = 1;
		return 0;
	}
	if (r->body_len + len + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		char *body = realloc(r->body, cap);
		if (!body) {
			t->too_large = 1;
			return 0;
		}
		r->body = body;
		t->cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return len;
}

/* Retry-After as integer seconds (the HTTP-date form is ignored, as client-go does). */
long http_parse_retry_after(const char *v, size_t len)
{
	long n = 0;
	size_t i = 0;

	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == len || !isdigit((unsigned char)v[i]))
		return -1;
	for (; i < len && isdigit((unsigned char)v[i]); i++) {
		if (n > 86400L * 365)
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n'))
		i++;
	return i == len ? n : -1;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (t->req->on_header && t->req->on_header(t->req->on_data_ud, data, len) != 0) {
		t->stopped = 1;
		return 0;
	}
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		t->resp->retry_after_s = -1; /* a new response (after 100 Continue or a redirect) */
	else if (len > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0)
		t->resp->retry_after_s = http_parse_retry_after(data + sizeof name - 1, len - (sizeof name - 1));
	return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud;
	return medic_interrupted() ? 1 : 0;
}

/* tls-server-name: the URL's host is replaced by the name to verify (it then goes into SNI and the
 * certificate check), and CURLOPT_CONNECT_TO sends the connection to the original host and port. */
int http_apply_server_name(struct http_client *c, const char *url, char **out_url, struct curl_slist **connect_to)
{
	CURLU *u;
	char *host = NULL, *port = NULL, *rewritten = NULL;
	int rc = -1;

	*out_url = NULL;
	*connect_to = NULL;
	if (!c->server_name)
		return 0;
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, c->server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &rewritten, 0) != CURLUE_OK)
		goto out;
	size_t n = strlen(c->server_name) + strlen(host) + 2 * strlen(port) + 4;
	char *line = malloc(n);
	if (!line)
		goto out;
	snprintf(line, n, "%s:%s:%s:%s", c->server_name, port, host, port);
	*connect_to = curl_slist_append(NULL, line);
	free(line);
	if (!*connect_to)
		goto out;
	*out_url = dup_str(rewritten);
	rc = *out_url ? 0 : -1;
out:
	curl_free(host);
	curl_free(port);
	curl_free(rewritten);
	curl_url_cleanup(u);
	return rc;
}

/* The client's settings: TLS material from memory, verification, proxy, timeouts, Ctrl-C. */
void http_apply_client(struct http_client *c, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
	if (c->ca) {
		/* only the given CA: the blob replaces the default bundle, and the default CA directory
		 * (/etc/ssl/certs on Debian) must go too, or any public CA would do */
		struct curl_blob b = {c->ca, c->ca_len, CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		if (!c->tls)
			curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->tls) {
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_material_install);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c->tls);
	} else if (c->cert) {
		struct curl_blob cb = {c->cert, c->cert_len, CURL_BLOB_NOCOPY};
		struct curl_blob kb = {c->key, c->key_len, CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (c->proxy)
		curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);  /* a dead peer under a quiet watch shows in ~2 min */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
}

static struct curl_slist *build_headers(const struct http_request *req)
{
	struct curl_slist *list = curl_slist_append(NULL, "Expect:");

	for (size_t i = 0; list && i < req->nheaders; i++) {
		size_t n = strlen(req->headers[i].name) + strlen(req->headers[i].value) + 3;
		char *line = malloc(n);
		if (!line)
			break;
		snprintf(line, n, "%s: %s", req->headers[i].name, req->headers[i].value);
		struct curl_slist *next = curl_slist_append(list, line);
		free(line);
		if (!next)
			break;
		list = next;
	}
	return list;
}

static void apply_method(CURL *e, const struct http_request *req)
{
	const char *m = req->method ? req->method : "GET";

	if (strcmp(m, "GET") == 0 && !req->body)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else if (strcmp(m, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}
}

/* Without nghttp2, setting the version fails and the request goes as HTTP/1.1: the caller sees a non-HTTP/2
 * answer, as from a server that declines h2. */
static void apply_http2(CURL *e, const char *url)
{
	long v = strncasecmp(url, "https:", 6) == 0 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;

	if (curl_easy_setopt(e, CURLOPT_HTTP_VERSION, v) != CURLE_OK)
		medic_log(MEDIC_LOG_DEBUG, "http", "this libcurl has no HTTP/2: using HTTP/1.1");
}

/* Maps a libcurl result to the http.h classes; "definitely not sent" only when no request byte left. */
enum http_error http_classify(CURLcode rc, int sent)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: case CURLE_COULDNT_CONNECT:
		return HTTP_ERR_CONNECT;
	case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH: case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED: case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_INVALIDCERTSTATUS:
		return sent ? HTTP_ERR_IO : HTTP_ERR_TLS;
	case CURLE_OPERATION_TIMEDOUT:
		return sent ? HTTP_ERR_TIMEOUT : HTTP_ERR_CONNECT;
	case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_WEIRD_SERVER_REPLY:
		return sent ? HTTP_ERR_IO : HTTP_ERR_CONNECT;
	default:
		return HTTP_ERR_OTHER;
	}
}

const char *http_error_code(enum http_error e)
{
	static const char *const codes[] = {
		"OK", MEDIC_E_CONNECT_FAILED, MEDIC_E_TLS, MEDIC_E_TIMEOUT, MEDIC_E_CONNECTION_LOST,
		MEDIC_E_TOO_LARGE, MEDIC_E_INTERRUPTED, MEDIC_E_ABORTED, MEDIC_E_HTTP_ERROR,
	};

	return (unsigned)e < sizeof codes / sizeof *codes ? codes[e] : MEDIC_E_HTTP_ERROR;
}

const char *http_url_path(const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? p + 3 : url;
	p += strcspn(p, "/?");
	return *p ? p : "/";
}

static void finish(struct http_client *c, CURLcode rc, struct transfer *t, const char *method, const char *url)
{
	struct http_response *resp = t->resp;
	curl_off_t sent = 0, connect_us = 0;
	char *ct = NULL;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &resp->seconds);
	curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &sent);
	curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	resp->connected = connect_us > 0;
	if (curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		resp->content_type = dup_str(ct);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		resp->error = HTTP_ERR_INTERRUPTED;
	else if (rc == CURLE_WRITE_ERROR && t->stopped)
		resp->error = HTTP_ERR_ABORTED;
	else if (rc == CURLE_WRITE_ERROR && t->too_large)
		resp->error = HTTP_ERR_TOO_LARGE;
	else
		resp->error = http_classify(rc, sent > 0 || resp->status > 0);
	if (resp->error == HTTP_ERR_TOO_LARGE)
		snprintf(resp->errmsg, sizeof resp->errmsg, "%.10s %.100s: response body larger than %zu bytes", method,
			 http_url_path(url), t->max_body);
	else if (resp->error == HTTP_ERR_INTERRUPTED)
		snprintf(resp->errmsg, sizeof resp->errmsg, "%.10s %.100s: interrupted", method, http_url_path(url));
	else if (resp->error != HTTP_OK)
		snprintf(resp->errmsg, sizeof resp->errmsg, "%.10s %.100s: %.120s", method, http_url_path(url),
			 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (resp->error != HTTP_OK && resp->body) {
		free(resp->body);
		resp->body = NULL;
		resp->body_len = 0;
	}
	medic_log(MEDIC_LOG_DEBUG, "http", "%s %s -> %ld%s%s (%.0f ms)", method, http_url_path(url), resp->status,
		  resp->error ? " " : "", resp->error ? http_error_code(resp->error) : "", resp->seconds * 1000);
}

enum http_error http_do(struct http_client *c, const struct http_request *req, struct http_response *resp)
{
	struct transfer t = {c->easy, req, resp, c->max_body, 0, 0, 0};
	const char *method = req->method ? req->method : "GET";
	struct curl_slist *headers, *connect_to = NULL;
	char *url = NULL;
	CURLcode rc;

	memset(resp, 0, sizeof *resp);
	resp->retry_after_s = -1;
	if (http_apply_server_name(c, req->url, &url, &connect_to) != 0) {
		resp->error = HTTP_ERR_OTHER;
		snprintf(resp->errmsg, sizeof resp->errmsg, "bad URL %.200s", req->url);
		return resp->error;
	}
	headers = build_headers(req);
	c->errbuf[0] = '\0';
	curl_easy_reset(c->easy);
	http_apply_client(c, c->easy);
	curl_easy_setopt(c->easy, CURLOPT_URL, url ? url : req->url);
	if (connect_to)
		curl_easy_setopt(c->easy, CURLOPT_CONNECT_TO, connect_to);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &t);
	apply_method(c->easy, req);
	if (req->fresh_connection)
		curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT, 1L);
	if (req->http2)
		apply_http2(c->easy, url ? url : req->url);
	rc = curl_easy_perform(c->easy);
	finish(c, rc, &t, method, req->url);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->easy, CURLOPT_CONNECT_TO, NULL);
	curl_slist_free_all(headers);
	curl_slist_free_all(connect_to);
	free(url);
	return resp->error;
}

char *http_escape(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		int alnum = (ch >= '0' && ch <= '9') || ((ch | 32) >= 'a' && (ch | 32) <= 'z');
		if (alnum || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}
