/* Unit tests of bindings/base/log.c: medic_redact on every shape a secret arrives in, and the sink/level gate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "base/log.h"

/* Redacts a copy of in; asserts it never grew, none of the secrets survive and every keep survives. */
static void check(const char *in, const char *const *secrets, const char *const *keeps)
{
	char buf[4096];

	snprintf(buf, sizeof buf, "%s", in);
	assert_ptr_equal(medic_redact(buf), buf);
	assert_true(strlen(buf) <= strlen(in));
	for (; secrets && *secrets; secrets++)
		if (strstr(buf, *secrets)) {
			print_error("secret '%s' survived in: %s\n", *secrets, buf);
			fail();
		}
	for (; keeps && *keeps; keeps++)
		if (!strstr(buf, *keeps)) {
			print_error("'%s' lost in: %s\n", *keeps, buf);
			fail();
		}
}

#define S(...) (const char *const[]){__VA_ARGS__, NULL}

static void test_bearer_and_authorization(void **state)
{
	(void)state;
	check("Authorization: Bearer sha256~abcDEF123_-.x", S("sha256~abcDEF123"), S("Authorization: Bearer"));
	check("authorization: bearer eyJhbGciOiJSUzI1NiJ9.e30.sig\r\nHost: x", S("eyJhbGci", "e30.sig"), S("Host: x"));
	check("AUTHORIZATION: Basic dXNlcjpwYXNzd29yZA==", S("dXNlcjpwYXNzd29yZA"), S("Basic"));
	check("Authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag", S("YIIGhgYGKwYBBQUCoIIGejCCBnag"), NULL);
	check("{\"headers\":{\"Authorization\":[\"Bearer tok-123456789\"]}}", S("tok-123456789"), S("headers"));
	check("curl -H 'Authorization: Bearer abcdefghijkl' https://x", S("abcdefghijkl"), S("https://x"));
	check("Bearer short", S("short"), NULL);
	char buf[] = "x Authorization: Bearer abcdefghijkl\ny";
	assert_string_equal(medic_redact(buf), "x Authorization: Bearer [REDACTED]\ny");
	char buf2[] = "{\"token\": \"abcdefghijklmnop\"} password=abcdefghijklmnop";
	assert_string_equal(medic_redact(buf2), "{\"token\": \"[REDACTED]\"} password=[REDACTED]");
}

static void test_private_keys(void **state)
{
	(void)state;
	const char *rsa = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----\nafter";
	check(rsa, S("MIIEowIBAAKCAQEA7", "abc"), S("after"));
	check("-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMG\\n-----END PRIVATE KEY-----\\n", S("MIGHAgEAMBMG"), NULL);
	check("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI (truncated", S("MHcCAQEEI"), NULL);
	check("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkq\n-----END ENCRYPTED PRIVATE KEY-----",
	      S("MIIFHzBJBgkq"), NULL);
	check("-----BEGIN CERTIFICATE-----\nMIIDcert\n-----END CERTIFICATE-----", NULL, S("MIIDcert"));
}

static void test_secret_data(void **state)
{
	(void)state;
	check("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"etcd-peer-m1\"},\"data\":{\"tls.key\":\"c2VjcmV0a2V5\","
	      "\"tls.crt\":\"Y2VydA==\"},\"type\":\"kubernetes.io/tls\"}",
	      S("c2VjcmV0a2V5", "Y2VydA=="), S("etcd-peer-m1", "kubernetes.io/tls", "\"kind\":\"Secret\""));
	check("{\"stringData\": {\"password\": \"hunter2\"}, \"kind\": \"Secret\"}", S("hunter2"), S("Secret"));
	check("apiVersion: v1\ndata:\n  tls.key: c2VjcmV0a2V5\n  tls.crt: Y2VydA==\nkind: Secret\nmetadata:\n  name: s1\n",
	      S("c2VjcmV0a2V5", "Y2VydA=="), S("kind: Secret", "name: s1", "apiVersion: v1"));
	check("{\"items\":[{\"data\":{\"a\":\"QUFBQUFBQUFB\"}},{\"data\":{\"b\":\"QkJCQkJCQkJC\"}}]}",
	      S("QUFBQUFBQUFB", "QkJCQkJCQkJC"), S("items"));
	check("no data: connection refused", NULL, S("connection refused"));
}

static void test_kubeconfig_fields(void **state)
{
	(void)state;
	check("users:\n- name: admin\n  user:\n    token: sha256~secrettoken\n    client-key-data: LS0tLS1CRUdJTi\n"
	      "    client-certificate-data: Y2VydGlmaWNhdGU=\n",
	      S("sha256~secrettoken", "LS0tLS1CRUdJTi"), S("name: admin", "Y2VydGlmaWNhdGU="));
	check("{\"token\":\"abc\\\"def-ghi-jkl\",\"user\":\"me\"}", S("def-ghi-jkl"), S("\"user\":\"me\""));
	check("{ token = \"luatokenvalue\", name = \"x\" }", S("luatokenvalue"), S("name = \"x\""));
	check("GET /oauth?access_token=qwertyuiop&x=1", S("qwertyuiop"), S("x=1"));
	check("password=hunter2hunter2 user=bob", S("hunter2hunter2"), S("user=bob"));
	check("{\"id_token\": \"idtok123456\", \"refresh_token\": \"reftok123456\"}", S("idtok123456", "reftok123456"), NULL);
}

static void test_harmless_text_unchanged(void **state)
{
	(void)state;
	const char *plain[] = {"member 62bcf33650a7170a (m1) is unhealthy: context deadline exceeded",
			       "GET /api/v1/namespaces/openshift-etcd/pods -> 200 (12 ms)",
			       "tokens and secrets are not logged", "serviceAccountToken: true", ""};
	char buf[256];

	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
		snprintf(buf, sizeof buf, "%s", plain[i]);
		assert_string_equal(medic_redact(buf), plain[i]);
	}
	assert_null(medic_redact(NULL));
}

/* Random mixtures of the pieces the redactor looks for: it must never crash, read past the end, or grow. */
static void test_random_inputs_are_safe(void **state)
{
	static const char *const pieces[] = {"token", "data", ":", "=", " ", "\"", "'", "{", "}", "[", "]", "\n",
					     "Bearer ", "Authorization:", "-----BEGIN RSA PRIVATE KEY-----", "-----END",
					     "-----", "x", "\\", "  ", "stringData", "[REDACTED]", ",", "-"};
	char in[512], buf[512];
	unsigned seed = 12345;
	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = 0;
		in[0] = 0;
		for (int k = 0; k < 12; k++) {
			seed = seed * 1103515245u + 12345u;
			const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
			if (n + strlen(p) + 1 >= sizeof in)
				break;
			memcpy(in + n, p, strlen(p) + 1);
			n += strlen(p);
		}
		memcpy(buf, in, n + 1);
		medic_redact(buf);
		assert_true(strlen(buf) <= n);
	}
}

static char seen[2048];
static int calls;

static void sink(void *ud, enum medic_log_level level, const char *topic, const char *msg)
{
	(void)ud;
	(void)level;
	calls++;
	snprintf(seen, sizeof seen, "%s: %s", topic, msg);
}

static void test_log_redacts_before_the_sink(void **state)
{
	(void)state;
	calls = 0;
	medic_log_set_sink(sink, NULL);
	medic_log_set_level(MEDIC_LOG_INFO);
	medic_log(MEDIC_LOG_DEBUG, "http", "dropped %d", 1);
	assert_int_equal(calls, 0);
	medic_log(MEDIC_LOG_INFO, "http", "GET / with Authorization: Bearer %s", "supersecret123");
	assert_int_equal(calls, 1);
	assert_null(strstr(seen, "supersecret123"));
	assert_non_null(strstr(seen, "http: GET / with Authorization: Bearer"));
	medic_log_set_sink(NULL, NULL);
	assert_false(medic_log_enabled(MEDIC_LOG_ERROR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bearer_and_authorization),
		cmocka_unit_test(test_private_keys),
		cmocka_unit_test(test_secret_data),
		cmocka_unit_test(test_kubeconfig_fields),
		cmocka_unit_test(test_harmless_text_unchanged),
		cmocka_unit_test(test_random_inputs_are_safe),
		cmocka_unit_test(test_log_redacts_before_the_sink),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
