/* libFuzzer target: the X.509 reader on arbitrary text. Properties: every certificate block found lies inside the
 * input and starts with its BEGIN line; parsing a block fills NUL-terminated fields or fails with a reason; a key
 * block is never handed to the parser (x509_pem.c stops at any BEGIN inside a block).
 * Build and run with `make fuzz`; seeds in fuzz/corpus/x509/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "x509/x509_cert.h"
#include "x509/x509_pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_block(const char *text, size_t size, const struct x509_pem_block *b)
{
	struct x509_cert c;
	char why[320];

	if (b->text < text || b->text + b->len > text + size || memcmp(b->text, "-----BEGIN CERTIFICATE-----", 27))
		abort();
	if (memmem(b->text + 1, b->len - 1, "-----BEGIN ", 11))
		abort();
	if (x509_cert_parse(b->text, b->len, &c, why, sizeof why) == 0) {
		if (strnlen(c.subject, sizeof c.subject) == sizeof c.subject || strlen(c.serial) % 2)
			abort();
	} else if (!why[0]) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *why = NULL;
	struct x509_pem_block b;
	size_t pos = 0, last = 0;
	int rc;

	while ((rc = x509_pem_next(text, size, &pos, &b, &why)) == 1) {
		if (pos <= last && last)
			abort(); /* always moves forward */
		last = pos;
		check_block(text, size, &b);
	}
	if (rc < 0 && !why)
		abort();
	return 0;
}
