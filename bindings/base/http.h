#ifndef MEDIC_HTTP_H
#define MEDIC_HTTP_H
#include <stddef.h>

/* A small HTTPS client on libcurl, shared by the Kubernetes and etcd bindings. One http_client owns one
 * curl easy handle, so connections are kept alive and reused across calls. No Lua in this interface.
 * TLS material is passed in memory (PEM), never through temporary files. Every request honours
 * medic_interrupted() through libcurl's progress callback and logs method, URL path, status and
 * duration through medic_log (redacted). */

struct http_tls {
	const char *ca_pem;        /* CA bundle (PEM) or NULL: the system store */
	size_t ca_len;
	const char *cert_pem;      /* client certificate (PEM) or NULL */
	size_t cert_len;
	const char *key_pem;       /* client key (PEM) or NULL */
	size_t key_len;
	int insecure;              /* skip verification (kubeconfig insecure-skip-tls-verify only) */
	const char *server_name;   /* tls-server-name override (SNI and verification), or NULL */
};

struct http_client_opts {
	struct http_tls tls;
	const char *proxy;         /* proxy URL or NULL */
	long connect_timeout_ms;   /* 0: 10 s */
	long timeout_ms;           /* total per request; 0: 60 s */
	size_t max_body;           /* largest response body kept in memory; 0: 64 MiB */
};

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method;        /* "GET", "POST", ... */
	const char *url;           /* absolute URL, already percent-encoded */
	const struct http_header *headers; /* extra headers, or NULL */
	size_t nheaders;
	const char *body;          /* or NULL */
	size_t body_len;
	long timeout_ms;           /* 0: the client's */
	/* Non-zero: use a new connection. libcurl silently resends a request whose reused keep-alive
	 * connection dies before any answer; a write that may have been applied must not be resent. */
	int fresh_connection;
	/* Streaming: when set, the body of a 2xx response goes here instead of into the response buffer
	 * (watch, snapshot); other statuses (an error Status) are buffered as usual. Return 0 to go on,
	 * non-zero to stop the transfer (the request then fails with HTTP_ERR_ABORTED). */
	int (*on_data)(void *ud, const char *data, size_t len);
	void *on_data_ud;
	/* Every response header line as libcurl hands it over, CRLF included: the status line, the headers and,
	 * over HTTP/2, the trailers after the body (libcurl 7.88 delivers those at the end of the stream).
	 * Gets on_data_ud. Return 0 to go on, non-zero to stop (HTTP_ERR_ABORTED). */
	int (*on_header)(void *ud, const char *line, size_t len);
	/* Non-zero: HTTP/2. https negotiates h2 by ALPN (HTTP/1.1 if the server declines), http:// speaks h2
	 * with prior knowledge (h2c); a libcurl without HTTP/2 sends HTTP/1.1. For gRPC. */
	int http2;
};

enum http_error {
	HTTP_OK = 0,
	HTTP_ERR_CONNECT,          /* could not connect: definitely not sent */
	HTTP_ERR_TLS,              /* handshake or verification failed: definitely not sent */
	HTTP_ERR_TIMEOUT,          /* may or may not have been applied */
	HTTP_ERR_IO,               /* connection dropped mid-way: may or may not have been applied */
	HTTP_ERR_TOO_LARGE,        /* body over max_body */
	HTTP_ERR_INTERRUPTED,      /* Ctrl-C */
	HTTP_ERR_ABORTED,          /* on_data asked to stop */
	HTTP_ERR_OTHER
};

struct http_response {
	long status;               /* HTTP status, 0 if none was received */
	char *body;                /* NUL-terminated, malloc'd (NULL when streamed) */
	size_t body_len;
	char *content_type;        /* malloc'd or NULL */
	long retry_after_s;        /* Retry-After in seconds, -1 if absent */
	double seconds;            /* total time */
	int connected;             /* a new connection was made for this request (to the server or its proxy) */
	enum http_error error;
	char errmsg[256];          /* human-readable, when error != HTTP_OK */
};

struct http_client;

/* Returns NULL and fills errmsg on a bad option. */
struct http_client *http_client_new(const struct http_client_opts *opts, char *errmsg, size_t errlen);
void http_client_free(struct http_client *c);
/* Performs one request (no retries: the callers decide). Returns resp->error. Free with http_response_free. */
enum http_error http_do(struct http_client *c, const struct http_request *req, struct http_response *resp);
void http_response_free(struct http_response *resp);
/* The stable error code string used in Lua returns: "ConnectFailed", "TLS", "Timeout", "ConnectionLost",
 * "TooLarge", "Interrupted", "Aborted", "HTTPError". */
const char *http_error_code(enum http_error e);

/* A raw connection for protocols libcurl 7.88 lacks (the WebSocket upgrade of exec): CURLOPT_CONNECT_ONLY on
 * its own easy handle with the client's TLS, proxy and tls-server-name settings, forced to HTTP/1.1.
 * The caller speaks the protocol itself through http_raw_send/http_raw_recv. */
struct http_raw;

/* Connects (TCP + TLS) to url's host. Returns NULL and fills resp->error/errmsg on failure. */
struct http_raw *http_raw_open(struct http_client *c, const char *url, long timeout_ms, struct http_response *resp);
/* Sends all len bytes, waiting for the socket as needed; HTTP_OK or an error with errmsg filled. */
enum http_error http_raw_send(struct http_raw *r, const void *buf, size_t len, char *errmsg, size_t errlen);
/* Receives up to cap bytes into buf, waiting at most timeout_ms (and watching medic_interrupted()).
 * HTTP_OK with *got > 0 on data, HTTP_OK with *got == 0 at end of stream, HTTP_ERR_TIMEOUT when nothing came. */
enum http_error http_raw_recv(struct http_raw *r, void *buf, size_t cap, size_t *got, long timeout_ms,
			      char *errmsg, size_t errlen);
void http_raw_close(struct http_raw *r);

/* The path and query of url (after scheme://host[:port]), for logging; points into url. */
const char *http_url_path(const char *url);

/* Percent-encodes s (RFC 3986 unreserved kept) into a new malloc'd string. */
char *http_escape(const char *s, size_t len);

#endif
