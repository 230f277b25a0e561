/* The X.509 reader's C units: certificate blocks found in PEM text by x509_pem.c (keys and garbage beside them
 * skipped, truncated blocks refused), and one certificate's public fields read by x509_cert.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "x509/x509_cert.h"
#include "x509/x509_pem.h"

/* A self-signed CA made for this test: openssl req -x509 -newkey ec -subj "/OU=openshift/CN=etcd-signer"
 * -addext basicConstraints=critical,CA:TRUE -set_serial 0x0102abcdef -days 1 (2026-12-03 15:53:12 UTC). */
static const char CA[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBmjCCAUCgAwIBAgIFAQKrze8wCgYIKoZIzj0EAwIwKjESMBAGA1UECwwJb3Bl\n"
	"bnNoaWZ0MRQwEgYDVQQDDAtldGNkLXNpZ25lcjAeFw0yNjEyMDMxNTUzMTJaFw0y\n"
	"NjEyMDQxNTUzMTJaMCoxEjAQBgNVBAsMCW9wZW5zaGlmdDEUMBIGA1UEAwwLZXRj\n"
	"ZC1zaWduZXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATrxHXbR0VZqQDoJIH6\n"
	"PAEhSgnnrg54VTVqaU/450gO5DA3j99UMrYegUhpq5a9u63dbHlKQtXYNqRk6kYe\n"
	"Q29Do1MwUTAdBgNVHQ4EFgQUcF7qgW/R7LSxJIehAy68caBwMPowHwYDVR0jBBgw\n"
	"FoAUcF7qgW/R7LSxJIehAy68caBwMPowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjO\n"
	"PQQDAgNIADBFAiA+CG2b/ppuumPTaUynNSN69JuA3eQOHbJvaAzg3f3z3QIhAMe1\n"
	"U9W/u+MfvIYwOgHeKf+HQ3Dn+ZSBfsA8ev88Jbou\n"
	"-----END CERTIFICATE-----\n";

static const char KEY_BLOCK[] = "-----BEGIN PRIVATE KEY-----\nnot base64 at all !!!\n-----END PRIVATE KEY-----\n";

static int blocks(const char *text, const char **why)
{
	struct x509_pem_block b;
	size_t pos = 0;
	int n = 0, rc;

	while ((rc = x509_pem_next(text, strlen(text), &pos, &b, why)) == 1) {
		assert_memory_equal(b.text, "-----BEGIN CERTIFICATE-----", 27);
		n++;
	}
	return rc < 0 ? -1 : n;
}

static void finds_certificate_blocks_only(void **state)
{
	char text[4096];
	const char *why = NULL;

	snprintf(text, sizeof text, "junk before\n%s%s%s trailing", CA, KEY_BLOCK, CA);
	assert_int_equal(blocks(text, &why), 2);
	assert_int_equal(blocks("", &why), 0);
	assert_int_equal(blocks(KEY_BLOCK, &why), 0);
	assert_int_equal(blocks("-----END CERTIFICATE-----", &why), 0);
}

static void refuses_broken_blocks(void **state)
{
	char text[4096];
	const char *why = NULL;

	snprintf(text, sizeof text, "%.*s", (int)(sizeof CA - 30), CA); /* cut inside the END line */
	assert_int_equal(blocks(text, &why), -1);
	assert_non_null(strstr(why, "without its END line"));
	snprintf(text, sizeof text, "-----BEGIN CERTIFICATE-----\nAAAA\n%s", KEY_BLOCK);
	why = NULL;
	assert_int_equal(blocks(text, &why), -1); /* the key must not end up inside a certificate block */
	assert_non_null(strstr(why, "another BEGIN line"));
}

static void reads_public_fields(void **state)
{
	struct x509_cert c;
	char why[320] = "";

	assert_int_equal(x509_cert_parse(CA, strlen(CA), &c, why, sizeof why), 0);
	assert_string_equal(c.subject, "CN=etcd-signer,OU=openshift");
	assert_string_equal(c.issuer, "CN=etcd-signer,OU=openshift");
	assert_string_equal(c.common_name, "etcd-signer");
	assert_string_equal(c.serial, "0102abcdef");
	assert_true(c.not_before == 1796313192);
	assert_true(c.not_after == 1796399592);
	assert_true(c.is_ca);
}

static void refuses_what_is_not_a_certificate(void **state)
{
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n";
	static const char encrypted[] = "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
		"DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nQUJD\n-----END CERTIFICATE-----\n";
	struct x509_cert c;
	char why[320] = "";

	assert_int_equal(x509_cert_parse(garbage, strlen(garbage), &c, why, sizeof why), -1);
	assert_non_null(strstr(why, "not a valid X.509 certificate"));
	assert_int_equal(x509_cert_parse(encrypted, strlen(encrypted), &c, why, sizeof why), -1); /* never prompts */
	assert_int_equal(x509_cert_parse("", 0, &c, why, sizeof why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_certificate_blocks_only),
		cmocka_unit_test(refuses_broken_blocks),
		cmocka_unit_test(reads_public_fields),
		cmocka_unit_test(refuses_what_is_not_a_certificate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
