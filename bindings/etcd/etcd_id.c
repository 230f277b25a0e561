#include <inttypes.h>
#include <stdio.h>
#include "etcd/etcd_id.h"

/* Hand-rolled instead of strtoull: strtoull accepts a sign, leading spaces and "0x", and wraps "-1" to
 * 2^64-1; etcdctl accepts none of those. */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int etcd_id_parse_hex(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d = hex_digit(s[i]);
		if (d < 0 || v > (UINT64_MAX >> 4))
			return -1;
		v = (v << 4) | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int etcd_id_parse_dec(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

void etcd_id_format_hex(uint64_t id, char *buf)
{
	snprintf(buf, ETCD_ID_BUFSZ, "%" PRIx64, id);
}

void etcd_id_format_dec(uint64_t id, char *buf)
{
	snprintf(buf, ETCD_ID_BUFSZ, "%" PRIu64, id);
}
