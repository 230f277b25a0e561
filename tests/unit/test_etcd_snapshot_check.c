/* etcd_snapshot_check: a snapshot file on disk is accepted only whole (bbolt magic, SHA-256 trailer). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "etcd/etcd_snapshot.h"
#include "snapshot_check.h"

#define DB_SIZE (3 * 65536 + 1234)   /* more than one read buffer, not a multiple of it */

struct fixture {
	char dir[64], path[128];
	unsigned char db[DB_SIZE + 32];
};

/* A database that starts like a bolt file (the magic at offset 16), and its trailer. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/medic-snapc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/db.snap", f->dir);
	fill_database(f->db, DB_SIZE);
	memcpy(f->db + 16, "\xed\xda\x0c\xed", 4);
	sha256(f->db, DB_SIZE, f->db + DB_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const unsigned char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* check's verdict on the file: NULL when accepted, else its message. */
static const char *verdict(const char *path, struct etcd_snapshot_result *res)
{
	static char err[512];
	return etcd_snapshot_check(path, res, err, sizeof err) == 0 ? NULL : err;
}

static void test_a_whole_snapshot_is_accepted(void **state)
{
	struct fixture *f = *state;
	struct etcd_snapshot_result res;
	char hex[65];

	write_file(f->path, f->db, sizeof f->db);
	assert_null(verdict(f->path, &res));
	assert_true(res.size == sizeof f->db);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", f->db[DB_SIZE + i]);
	assert_string_equal(res.sha256, hex);
}

static void test_a_changed_byte_is_refused(void **state)
{
	struct fixture *f = *state;
	struct etcd_snapshot_result res;

	f->db[DB_SIZE / 2] ^= 1;
	write_file(f->path, f->db, sizeof f->db);
	assert_non_null(strstr(verdict(f->path, &res), "SHA-256 mismatch"));
}

static void test_a_cut_file_is_refused(void **state)
{
	struct fixture *f = *state;
	struct etcd_snapshot_result res;

	write_file(f->path, f->db, sizeof f->db - 1);   /* a copy that stopped one byte short */
	assert_non_null(strstr(verdict(f->path, &res), "SHA-256 mismatch"));
	write_file(f->path, f->db, 4000);
	assert_non_null(strstr(verdict(f->path, &res), "too small"));
}

static void test_not_a_bolt_file_is_refused(void **state)
{
	struct fixture *f = *state;
	struct etcd_snapshot_result res;

	f->db[16] = 0;
	sha256(f->db, DB_SIZE, f->db + DB_SIZE);   /* a right trailer does not make it a database */
	write_file(f->path, f->db, sizeof f->db);
	assert_non_null(strstr(verdict(f->path, &res), "no bbolt magic"));
}

static void test_missing_file_and_directory_are_refused(void **state)
{
	struct fixture *f = *state;
	struct etcd_snapshot_result res;

	assert_non_null(strstr(verdict(f->path, &res), "No such file"));
	assert_non_null(strstr(verdict(f->dir, &res), "too small"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_whole_snapshot_is_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_changed_byte_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_cut_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_bolt_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_and_directory_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
