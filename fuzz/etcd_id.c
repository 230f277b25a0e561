/* libFuzzer target: etcd member IDs and error classification on arbitrary text. Properties: a parsed ID
 * formats back to the canonical text (hex: lower case, no leading zeros; decimal: no leading zeros), hex and
 * decimal round-trip through each other exactly, and the classifier always answers with a code.
 * Build and run with `make fuzz`; seeds in fuzz/corpus/etcd_id/. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "etcd/etcd_error.h"
#include "etcd/etcd_id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s without leading zeros (at least one digit kept), lower-cased, into out. */
static void canonical(const char *s, size_t len, char *out)
{
	size_t i = 0;
	while (i + 1 < len && s[i] == '0')
		i++;
	size_t n = 0;
	for (; i < len; i++)
		out[n++] = (char)tolower((unsigned char)s[i]);
	out[n] = 0;
}

static void check_id(const char *s, size_t len)
{
	uint64_t v, w;
	char buf[ETCD_ID_BUFSZ], canon[256];

	if (len >= sizeof canon)
		return;
	if (etcd_id_parse_hex(s, len, &v) == 0) {
		etcd_id_format_hex(v, buf);
		canonical(s, len, canon);
		if (strcmp(buf, canon) != 0)
			abort();
		etcd_id_format_dec(v, buf);
		if (etcd_id_parse_dec(buf, strlen(buf), &w) != 0 || w != v)
			abort();
	}
	if (etcd_id_parse_dec(s, len, &v) == 0) {
		etcd_id_format_dec(v, buf);
		canonical(s, len, canon);
		if (strcmp(buf, canon) != 0)
			abort();
		etcd_id_format_hex(v, buf);
		if (etcd_id_parse_hex(buf, strlen(buf), &w) != 0 || w != v)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int grpc = (int)(int8_t)data[0];
	long http = (long)data[1] * 3;
	char *msg = malloc(size - 1);
	if (!msg)
		return 0;
	memcpy(msg, data + 2, size - 2);
	msg[size - 2] = 0;
	check_id((const char *)data + 2, size - 2);
	struct etcd_error_class c = etcd_error_classify(msg, grpc, http);
	if (!c.code || !c.code[0] || (c.definite != 0 && c.definite != 1))
		abort();
	c = etcd_error_classify(NULL, grpc, http);
	if (!c.code)
		abort();
	free(msg);
	return 0;
}
