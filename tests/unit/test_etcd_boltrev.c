/* The revision of an etcd backend file, read from bbolt pages built here byte by byte: an inline "key"
 * bucket, a two-level tree whose last leaf holds a tombstone, an empty store, a torn meta page, and files
 * that are not etcd's. (A real ~100 MiB database is checked against `etcdctl snapshot status` in
 * tests/integration/etcd_test.lua.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "etcd/etcd_boltrev.h"

#define PS 4096
#define NPAGES 8

static unsigned char db[NPAGES * PS + 32];   /* + a snapshot's SHA-256 trailer */

static void put16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t fnv64a(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void meta(int pg, uint64_t txid, uint64_t root)
{
	unsigned char *p = db + pg * PS;
	put64(p, (uint64_t)pg);
	put16(p + 8, 0x04);
	put32(p + 16, 0xED0CDAED);
	put32(p + 20, 2);
	put32(p + 24, PS);
	put64(p + 32, root);
	put64(p + 48, 2);
	put64(p + 56, NPAGES);
	put64(p + 64, txid);
	put64(p + 72, fnv64a(p + 16, 56));
}

struct kv {
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	uint32_t flags;
};

/* A leaf page (header, elements, then keys and values) at p; returns its length. */
static size_t leaf(unsigned char *p, const struct kv *kvs, int n)
{
	put16(p + 8, 0x02);
	put16(p + 10, (uint16_t)n);
	size_t data = 16 + 16 * (size_t)n;
	for (int i = 0; i < n; i++) {
		unsigned char *el = p + 16 + 16 * i;
		put32(el, kvs[i].flags);
		put32(el + 4, (uint32_t)(data - (size_t)(el - p)));
		put32(el + 8, (uint32_t)kvs[i].klen);
		put32(el + 12, (uint32_t)kvs[i].vlen);
		memcpy(p + data, kvs[i].key, kvs[i].klen);
		memcpy(p + data + kvs[i].klen, kvs[i].val, kvs[i].vlen);
		data += kvs[i].klen + kvs[i].vlen;
	}
	return data;
}

/* A branch page at p: children with their first keys. */
static void branch(unsigned char *p, const unsigned char keys[][18], const size_t *klens, const uint64_t *pgids, int n)
{
	put16(p + 8, 0x01);
	put16(p + 10, (uint16_t)n);
	size_t data = 16 + 16 * (size_t)n;
	for (int i = 0; i < n; i++) {
		unsigned char *el = p + 16 + 16 * i;
		put32(el, (uint32_t)(data - (size_t)(el - p)));
		put32(el + 4, (uint32_t)klens[i]);
		put64(el + 8, pgids[i]);
		memcpy(p + data, keys[i], klens[i]);
		data += klens[i];
	}
}

static size_t rev_key(unsigned char k[18], uint64_t main_rev, uint64_t sub, int tombstone)
{
	for (int i = 0; i < 8; i++) {
		k[i] = (unsigned char)(main_rev >> (56 - 8 * i));
		k[9 + i] = (unsigned char)(sub >> (56 - 8 * i));
	}
	k[8] = '_';
	k[17] = 't';
	return tombstone ? 18 : 17;
}

/* A bucket value: {root pgid, sequence} and, for an inline bucket (root 0), its page. */
static size_t bucket(unsigned char *v, uint64_t root, const struct kv *kvs, int n)
{
	memset(v, 0, 16);
	put64(v, root);
	return root ? 16 : 16 + leaf(v + 16, kvs, n);
}

static char path[64];

static int64_t revision_of(int *rc, char *err, size_t errlen)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(db, 1, sizeof db, f), sizeof db);
	fclose(f);
	int64_t rev = -42;
	*rc = etcd_bolt_revision(path, &rev, err, errlen);
	return rev;
}

static int setup(void **state)
{
	memset(db, 0, sizeof db);
	strcpy(path, "/tmp/medic-bolt-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void inline_key_bucket(void **state)
{
	unsigned char k1[18], k2[18], kb[4096], empty[64];
	struct kv keys[] = {{k1, rev_key(k1, 5, 0, 0), "v1", 2, 0}, {k2, rev_key(k2, 7, 1, 0), "v2", 2, 0}};
	size_t kblen = bucket(kb, 0, keys, 2), elen = bucket(empty, 0, NULL, 0);
	struct kv root[] = {{"alarm", 5, empty, elen, 1}, {"key", 3, kb, kblen, 1}, {"meta", 4, empty, elen, 1}};
	leaf(db + 3 * PS, root, 3);
	meta(0, 5, 3);
	meta(1, 6, 3);
	int rc;
	char err[256] = "";
	int64_t rev = revision_of(&rc, err, sizeof err);
	assert_int_equal(rc, 0);
	assert_int_equal(rev, 7);
}

static void tree_with_tombstone_last(void **state)
{
	unsigned char keys[2][18], a[18], b[18], c[18], kb[16], empty[64];
	size_t klens[2] = {rev_key(keys[0], 1, 0, 0), rev_key(keys[1], 100, 0, 0)};
	uint64_t pgids[2] = {5, 6};
	branch(db + 4 * PS, keys, klens, pgids, 2);
	struct kv left[] = {{a, rev_key(a, 1, 0, 0), "x", 1, 0}};
	struct kv right[] = {{b, rev_key(b, 100, 0, 0), "y", 1, 0}, {c, rev_key(c, 0x0102030405ULL, 0, 1), "", 0, 0}};
	leaf(db + 5 * PS, left, 1);
	leaf(db + 6 * PS, right, 2);
	size_t kblen = bucket(kb, 4, NULL, 0), elen = bucket(empty, 0, NULL, 0);
	struct kv root[] = {{"key", 3, kb, kblen, 1}, {"members", 7, empty, elen, 1}};
	leaf(db + 3 * PS, root, 2);
	meta(0, 9, 3);
	meta(1, 10, 7);            /* newer but torn: its checksum no longer matches */
	db[PS + 40] ^= 1;
	int rc;
	char err[256] = "";
	int64_t rev = revision_of(&rc, err, sizeof err);
	assert_int_equal(rc, 0);
	assert_true(rev == 0x0102030405LL);
}

static void empty_store_is_revision_zero(void **state)
{
	unsigned char kb[64];
	size_t kblen = bucket(kb, 0, NULL, 0);
	struct kv root[] = {{"key", 3, kb, kblen, 1}};
	leaf(db + 3 * PS, root, 1);
	meta(0, 1, 3);
	meta(1, 2, 3);
	int rc;
	char err[256];
	assert_int_equal(revision_of(&rc, err, sizeof err), 0);
	assert_int_equal(rc, 0);
}

static void refuses_other_files(void **state)
{
	int rc;
	char err[256];
	revision_of(&rc, err, sizeof err);   /* all zeros */
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "not a bbolt database"));

	unsigned char empty[64];
	size_t elen = bucket(empty, 0, NULL, 0);
	struct kv root[] = {{"kez", 3, empty, elen, 1}};
	leaf(db + 3 * PS, root, 1);
	meta(0, 1, 3);
	meta(1, 2, 3);
	revision_of(&rc, err, sizeof err);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err, "no \"key\" bucket"));

	int64_t rev;
	assert_int_equal(etcd_bolt_revision("/nonexistent/db", &rev, err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(inline_key_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(tree_with_tombstone_last, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_store_is_revision_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_other_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
