/* The libcurl client (bindings/base/http.c) against a real HTTPS server on 127.0.0.1 (tests/unit/https_server.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/http.h"
#include "base/log.h"

static char dir[] = "/tmp/medic-http-XXXXXX";
static pid_t server;
static int port;
static char *ca, *cert, *key;

static char *slurp(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int start_server(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	server = fork();
	if (server == 0) {
		execlp("python3", "python3", "tests/unit/https_server.py", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) { /* poll for the port file, up to 30 s */
		char *p = slurp("port");
		if (p) {
			port = atoi(p);
			free(p);
			break;
		}
		usleep(100000);
	}
	ca = slurp("ca.crt");
	cert = slurp("client.crt");
	key = slurp("client.key");
	return port > 0 && ca && cert && key ? 0 : -1;
}

static int stop_server(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "touch %s/stop", dir);
	if (system(cmd) != 0 || server <= 0)
		kill(server, SIGTERM);
	if (server > 0)
		waitpid(server, NULL, 0);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return -1;
	free(ca);
	free(cert);
	free(key);
	return 0;
}

static struct http_client *client(int with_ca, long timeout_ms, size_t max_body)
{
	struct http_client_opts o = {0};
	char err[256];
	if (with_ca)
		o.tls.ca_pem = ca;
	o.timeout_ms = timeout_ms;
	o.max_body = max_body;
	struct http_client *c = http_client_new(&o, err, sizeof err);
	assert_non_null(c);
	return c;
}

static void url(char *buf, size_t n, const char *host, const char *path)
{
	snprintf(buf, n, "https://%s:%d%s", host, port, path);
}

static enum http_error get(struct http_client *c, const char *host, const char *path, struct http_response *r)
{
	char u[256];
	url(u, sizeof u, host, path);
	struct http_request req = {.method = "GET", .url = u};
	return http_do(c, &req, r);
}

static void test_escape(void **state)
{
	char *e = http_escape("a b/c~d%\xff", 9);
	assert_string_equal(e, "a%20b%2Fc~d%25%FF");
	free(e);
}

static void test_url_path(void **state)
{
	assert_string_equal(http_url_path("https://h:6443/api/v1?x=1"), "/api/v1?x=1");
	assert_string_equal(http_url_path("https://h:6443"), "/");
	assert_string_equal(http_url_path("https://h?q"), "?q");
}

static void test_get_and_keepalive(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r1, r2;
	assert_int_equal(get(c, "127.0.0.1", "/echo", &r1), HTTP_OK);
	assert_int_equal(r1.status, 200);
	assert_non_null(strstr(r1.body, "\"method\": \"GET\""));
	assert_string_equal(r1.content_type, "application/json");
	assert_int_equal(r1.retry_after_s, -1);
	assert_int_equal(get(c, "127.0.0.1", "/echo", &r2), HTTP_OK);
	/* one connection, reused: the server saw the same client port twice */
	const char *p1 = strstr(r1.body, "\"port\""), *p2 = strstr(r2.body, "\"port\"");
	assert_non_null(p1);
	assert_non_null(p2);
	assert_int_equal(atoi(p1 + 8), atoi(p2 + 8));
	http_response_free(&r1);
	http_response_free(&r2);
	http_client_free(c);
}

static void test_post_body_and_headers(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	char u[256];
	struct http_header h[] = {{"Authorization", "Bearer abc"}, {"Content-Type", "application/json"}};
	url(u, sizeof u, "127.0.0.1", "/echo/x");
	struct http_request req = {.method = "PATCH", .url = u, .headers = h, .nheaders = 2, .body = "{\"a\":1}",
				   .body_len = 7};
	assert_int_equal(http_do(c, &req, &r), HTTP_OK);
	assert_non_null(strstr(r.body, "\"method\": \"PATCH\""));
	assert_non_null(strstr(r.body, "\"auth\": \"Bearer abc\""));
	assert_non_null(strstr(r.body, "{\\\"a\\\":1}"));
	http_response_free(&r);
	req.method = "DELETE";
	assert_int_equal(http_do(c, &req, &r), HTTP_OK);
	assert_non_null(strstr(r.body, "\"method\": \"DELETE\""));
	http_response_free(&r);
	http_client_free(c);
}

static void test_client_certificate(void **state)
{
	struct http_client_opts o = {.tls = {.ca_pem = ca, .cert_pem = cert, .key_pem = key}};
	char err[256];
	struct http_client *c = http_client_new(&o, err, sizeof err);
	struct http_response r;
	assert_non_null(c);
	assert_int_equal(get(c, "127.0.0.1", "/echo", &r), HTTP_OK);
	assert_non_null(strstr(r.body, "\"cn\": \"client\""));
	http_response_free(&r);
	http_client_free(c);
	o.tls.key_pem = NULL;
	assert_null(http_client_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "key"));
}

static void test_tls_verification(void **state)
{
	struct http_client *c = client(0, 0, 0); /* system store: the test CA is unknown */
	struct http_response r;
	assert_int_equal(get(c, "127.0.0.1", "/echo", &r), HTTP_ERR_TLS);
	assert_string_equal(http_error_code(r.error), "TLS");
	assert_true(strlen(r.errmsg) > 0);
	http_response_free(&r);
	http_client_free(c);

	struct http_client_opts o = {.tls = {.insecure = 1}};
	char err[256];
	c = http_client_new(&o, err, sizeof err);
	assert_int_equal(get(c, "127.0.0.1", "/echo", &r), HTTP_OK);
	http_response_free(&r);
	http_client_free(c);
}

static void test_server_name(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	assert_int_equal(get(c, "localhost", "/echo", &r), HTTP_ERR_TLS); /* the cert has no "localhost" */
	http_response_free(&r);
	http_client_free(c);

	struct http_client_opts o = {.tls = {.ca_pem = ca, .server_name = "medic.test"}};
	char err[256];
	c = http_client_new(&o, err, sizeof err);
	assert_int_equal(get(c, "localhost", "/echo", &r), HTTP_OK);
	assert_int_equal(r.status, 200);
	http_response_free(&r);
	http_client_free(c);
}

static void test_retry_after(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	assert_int_equal(get(c, "127.0.0.1", "/retry", &r), HTTP_OK);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after_s, 3);
	assert_string_equal(r.body, "Too many requests, please try again later.");
	http_response_free(&r);
	http_client_free(c);
}

static void test_too_large(void **state)
{
	struct http_client *c = client(1, 0, 1 << 20);
	struct http_response r;
	assert_int_equal(get(c, "127.0.0.1", "/big", &r), HTTP_ERR_TOO_LARGE);
	assert_null(r.body);
	assert_string_equal(http_error_code(r.error), "TooLarge");
	http_response_free(&r);
	http_client_free(c);
}

static int count_bytes(void *ud, const char *data, size_t len)
{
	size_t *n = ud;
	*n += len;
	return *n > (1 << 20) ? 1 : 0;
}

static void test_streaming(void **state)
{
	struct http_client *c = client(1, 0, 1024);
	struct http_response r;
	size_t n = 0;
	char u[256];
	url(u, sizeof u, "127.0.0.1", "/big");
	struct http_request req = {.url = u, .on_data = count_bytes, .on_data_ud = &n};
	assert_int_equal(http_do(c, &req, &r), HTTP_ERR_ABORTED); /* stops after 1 MiB, max_body does not apply */
	assert_true(n > (1 << 20));
	assert_null(r.body);
	http_response_free(&r);
	http_client_free(c);
}

static void test_dropped_and_timeout(void **state)
{
	struct http_client *c = client(1, 800, 0);
	struct http_response r;
	assert_int_equal(get(c, "127.0.0.1", "/drop", &r), HTTP_ERR_IO);
	assert_string_equal(http_error_code(r.error), "ConnectionLost");
	http_response_free(&r);
	assert_int_equal(get(c, "127.0.0.1", "/slow", &r), HTTP_ERR_TIMEOUT);
	http_response_free(&r);
	http_client_free(c);
}

/* libcurl resends a request on its own when a reused connection dies before any answer; a write that
 * must not be resent asks for a fresh connection, so the server sees it once. */
static void test_write_not_resent(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	char u[256];
	assert_int_equal(get(c, "127.0.0.1", "/drops", &r), HTTP_OK); /* a connection to reuse */
	int before = atoi(strstr(r.body, ":") + 1);
	http_response_free(&r);
	url(u, sizeof u, "127.0.0.1", "/drop");
	struct http_request req = {.method = "DELETE", .url = u, .fresh_connection = 1};
	assert_int_equal(http_do(c, &req, &r), HTTP_ERR_IO);
	http_response_free(&r);
	assert_int_equal(get(c, "127.0.0.1", "/drops", &r), HTTP_OK);
	assert_int_equal(atoi(strstr(r.body, ":") + 1), before + 1);
	http_response_free(&r);
	http_client_free(c);
}

static char logged[4096];

static void capture(void *ud, enum medic_log_level level, const char *topic, const char *msg)
{
	size_t n = strlen(logged);
	snprintf(logged + n, sizeof logged - n, "%s: %s\n", topic, msg);
}

/* -v: one line per request with method, path, status and duration; headers and bodies never. */
static void test_request_log(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	char u[256];
	struct http_header h[] = {{"Authorization", "Bearer sekrit-token-123"}};
	url(u, sizeof u, "127.0.0.1", "/echo/api/v1/namespaces/ns/secrets/s?x=1");
	struct http_request req = {.method = "POST", .url = u, .headers = h, .nheaders = 1,
				   .body = "{\"data\":{\"k\":\"c2VjcmV0\"}}", .body_len = 25};
	logged[0] = '\0';
	medic_log_set_sink(capture, NULL);
	medic_log_set_level(MEDIC_LOG_DEBUG);
	assert_int_equal(http_do(c, &req, &r), HTTP_OK);
	medic_log_set_sink(NULL, NULL);
	assert_non_null(strstr(logged, "http: POST /echo/api/v1/namespaces/ns/secrets/s?x=1 -> 200 ("));
	assert_non_null(strstr(logged, " ms)"));
	assert_null(strstr(logged, "sekrit"));
	assert_null(strstr(logged, "c2VjcmV0"));
	http_response_free(&r);
	http_client_free(c);
}

static void test_connect_refused(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	struct http_request req = {.url = "https://127.0.0.1:1/x"};
	assert_int_equal(http_do(c, &req, &r), HTTP_ERR_CONNECT);
	assert_int_equal(r.status, 0);
	assert_string_equal(http_error_code(r.error), "ConnectFailed");
	http_response_free(&r);
	http_client_free(c);
}

static void test_raw(void **state)
{
	struct http_client *c = client(1, 0, 0);
	struct http_response r;
	char u[256], buf[4096], err[256];
	size_t got = 0, total = 0;
	url(u, sizeof u, "127.0.0.1", "/");
	struct http_raw *raw = http_raw_open(c, u, 5000, &r);
	assert_non_null(raw);
	const char *msg = "GET /echo HTTP/1.1\r\nHost: medic\r\nConnection: close\r\n\r\n";
	assert_int_equal(http_raw_send(raw, msg, strlen(msg), err, sizeof err), HTTP_OK);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(http_raw_recv(raw, buf + total, sizeof buf - 1 - total, &got, 5000, err, sizeof err),
				 HTTP_OK);
		if (got == 0)
			break;
		total += got;
	}
	buf[total] = '\0';
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	http_raw_close(raw);
	http_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_url_path),
		cmocka_unit_test(test_get_and_keepalive),
		cmocka_unit_test(test_post_body_and_headers),
		cmocka_unit_test(test_client_certificate),
		cmocka_unit_test(test_tls_verification),
		cmocka_unit_test(test_server_name),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_dropped_and_timeout),
		cmocka_unit_test(test_write_not_resent),
		cmocka_unit_test(test_request_log),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_raw),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = cmocka_run_group_tests(tests, start_server, stop_server);
	curl_global_cleanup();
	return rc;
}
