/* Finding certificate blocks in PEM text: see x509_pem.h. */
#include <string.h>
#include "x509/x509_pem.h"

#define BEGIN_CERT "-----BEGIN CERTIFICATE-----"
#define END_CERT "-----END CERTIFICATE-----"
#define ANY_BEGIN "-----BEGIN "

static const char *find(const char *from, const char *end, const char *what)
{
	return from < end ? memmem(from, (size_t)(end - from), what, strlen(what)) : NULL;
}

int x509_pem_next(const char *text, size_t len, size_t *pos, struct x509_pem_block *block, const char **why)
{
	const char *end = text + len, *begin, *stop, *nested;

	if (*pos >= len || !(begin = find(text + *pos, end, BEGIN_CERT)))
		return 0;
	stop = find(begin + strlen(BEGIN_CERT), end, END_CERT);
	nested = find(begin + 1, stop ? stop : end, ANY_BEGIN); /* also one sharing the BEGIN line's dashes */
	if (nested) {
		*why = "another BEGIN line inside a certificate block (a truncated or spliced bundle)";
		return -1;
	}
	if (!stop) {
		*why = "a BEGIN CERTIFICATE line without its END line (a truncated bundle)";
		return -1;
	}
	stop += strlen(END_CERT);
	block->text = begin;
	block->len = (size_t)(stop - begin);
	*pos = (size_t)(stop - text);
	return 1;
}
