/* Member ID conversions at the edges: 0, 2^53+1, 2^63, 2^64-1, and what etcdctl refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "etcd/etcd_id.h"

static uint64_t hex(const char *s)
{
	uint64_t v = 42;
	assert_int_equal(etcd_id_parse_hex(s, strlen(s), &v), 0);
	return v;
}

static uint64_t dec(const char *s)
{
	uint64_t v = 42;
	assert_int_equal(etcd_id_parse_dec(s, strlen(s), &v), 0);
	return v;
}

static void parses_hex_edges(void **state)
{
	assert_true(hex("0") == 0);
	assert_true(hex("20000000000001") == 9007199254740993ULL);   /* 2^53+1: a double would round it */
	assert_true(hex("8000000000000000") == 9223372036854775808ULL);
	assert_true(hex("ffffffffffffffff") == UINT64_MAX);
	assert_true(hex("FFFFFFFFFFFFFFFF") == UINT64_MAX);
	assert_true(hex("0000000000000000001") == 1);                /* leading zeros, as Go's ParseUint */
	assert_true(hex("62bcf33650a7170a") == 0x62bcf33650a7170aULL);
	assert_true(hex("10") == 16);                                /* all digits: still hex */
}

static void refuses_bad_hex(void **state)
{
	const char *bad[] = {"", "10000000000000000", "0x10", "-1", "+1", " 1", "1 ", "g", "12z4", "1_0"};
	uint64_t v = 7;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(etcd_id_parse_hex(bad[i], strlen(bad[i]), &v), -1);
	assert_true(v == 7);   /* untouched on failure */
	assert_int_equal(etcd_id_parse_hex("12\0" "3", 4, &v), -1);  /* an embedded NUL is not a digit */
}

static void parses_decimal_edges(void **state)
{
	assert_true(dec("0") == 0);
	assert_true(dec("9007199254740993") == 9007199254740993ULL);
	assert_true(dec("9223372036854775808") == 9223372036854775808ULL);
	assert_true(dec("18446744073709551615") == UINT64_MAX);
	uint64_t v;
	assert_int_equal(etcd_id_parse_dec("18446744073709551616", 20, &v), -1);
	assert_int_equal(etcd_id_parse_dec("99999999999999999999", 20, &v), -1);
	assert_int_equal(etcd_id_parse_dec("", 0, &v), -1);
	assert_int_equal(etcd_id_parse_dec("-1", 2, &v), -1);
	assert_int_equal(etcd_id_parse_dec("1e3", 3, &v), -1);
	assert_int_equal(etcd_id_parse_dec("1.0", 3, &v), -1);
}

static void formats_like_etcdctl(void **state)
{
	char buf[ETCD_ID_BUFSZ];
	etcd_id_format_hex(UINT64_MAX, buf);
	assert_string_equal(buf, "ffffffffffffffff");
	etcd_id_format_hex(0x0bcf33650a7170aULL, buf);
	assert_string_equal(buf, "bcf33650a7170a");   /* no zero padding */
	etcd_id_format_hex(0, buf);
	assert_string_equal(buf, "0");
	etcd_id_format_dec(UINT64_MAX, buf);
	assert_string_equal(buf, "18446744073709551615");
	etcd_id_format_dec(9007199254740993ULL, buf);
	assert_string_equal(buf, "9007199254740993");
}

static void round_trips(void **state)
{
	const char *ids[] = {"4e5052e7cde7fbd5", "cb6cebf5c37602be", "e6b984611f18ac61", "1", "8000000000000000"};
	char d[ETCD_ID_BUFSZ], h[ETCD_ID_BUFSZ];
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		etcd_id_format_dec(hex(ids[i]), d);
		etcd_id_format_hex(dec(d), h);
		assert_string_equal(h, ids[i]);
	}
	etcd_id_format_hex(dec("14658350327962927806"), h);   /* recorded from etcd 3.4.23 */
	assert_string_equal(h, "cb6cebf5c37602be");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_hex_edges),
		cmocka_unit_test(refuses_bad_hex),
		cmocka_unit_test(parses_decimal_edges),
		cmocka_unit_test(formats_like_etcdctl),
		cmocka_unit_test(round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
