/* The snapshot stream receiver: base64 blobs split anywhere, the SHA-256 trailer checked, the file
 * written atomically with mode 0600, and server errors and corruption refused without leaving a file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "etcd/etcd_snapshot.h"
#include "snapshot_check.h"

#define DB_SIZE 100000

struct fixture {
	char dir[64], path[96];
	unsigned char db[DB_SIZE + 32];   /* database + trailer, what the file must hold */
	char *stream;
	size_t stream_len;
};

/* The stream as etcd 3.5 sends it: 32 KiB blobs, then the 32-byte hash as its own message. */
static void build_stream(struct fixture *f, int with_remaining)
{
	size_t cap = (DB_SIZE + 32) * 2 + 4096, len = 0;
	f->stream = malloc(cap);
	for (size_t off = 0; off < DB_SIZE + 32;) {
		size_t n = off < DB_SIZE ? (DB_SIZE - off < 32768 ? DB_SIZE - off : 32768) : 32;
		len += (size_t)sprintf(f->stream + len, with_remaining ? "{\"result\":{\"remaining_bytes\":\"%zu\",\"blob\":\""
								       : "{\"result\":{%.0zu\"blob\":\"",
				       with_remaining ? DB_SIZE + 32 - off - n : (size_t)0);
		len += (size_t)EVP_EncodeBlock((unsigned char *)f->stream + len, f->db + off, (int)n);
		len += (size_t)sprintf(f->stream + len, "\"}}\n");
		off += n;
	}
	f->stream_len = len;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/medic-snap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/db.snap", f->dir);
	fill_database(f->db, DB_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char p[512];
	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name) > 0)
			unlink(p);
	if (d != NULL)
		closedir(d);
	rmdir(f->dir);
	free(f->stream);
	free(f);
	return 0;
}

static int feed_in_pieces(struct etcd_snapshot *s, const char *data, size_t len, size_t piece)
{
	for (size_t off = 0; off < len; off += piece)
		if (etcd_snapshot_feed(s, data + off, len - off < piece ? len - off : piece) != 0)
			return -1;
	return 0;
}

static void receive(struct fixture *f, size_t piece)
{
	char err[256];
	struct etcd_snapshot_result res;
	struct etcd_snapshot *s = etcd_snapshot_open(f->path, ETCD_SNAPSHOT_GATEWAY, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(feed_in_pieces(s, f->stream, f->stream_len, piece), 0);
	assert_int_equal(etcd_snapshot_finish(s, &res, err, sizeof err), 0);
	assert_snapshot_saved(f->path, f->dir, f->db, DB_SIZE + 32, &res);
}

static void receives_whole_and_split_streams(void **state)
{
	struct fixture *f = *state;
	build_stream(f, 0);
	receive(f, f->stream_len);
	receive(f, 1);       /* every boundary: inside keys, base64 quanta, between messages */
	receive(f, 4093);
}

static void accepts_remaining_bytes_field(void **state)
{
	struct fixture *f = *state;
	build_stream(f, 1);
	receive(f, 777);
}

static void expect_failure(struct fixture *f, const char *data, size_t len, const char *needle)
{
	char err[256] = "";
	struct etcd_snapshot_result res;
	struct etcd_snapshot *s = etcd_snapshot_open(f->path, ETCD_SNAPSHOT_GATEWAY, err, sizeof err);
	assert_non_null(s);
	etcd_snapshot_feed(s, data, len);
	assert_int_equal(etcd_snapshot_finish(s, &res, err, sizeof err), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(files_in(f->dir), 0);
}

static void refuses_corruption(void **state)
{
	struct fixture *f = *state;
	f->db[500] ^= 1;   /* the trailer no longer matches */
	build_stream(f, 0);
	expect_failure(f, f->stream, f->stream_len, "SHA-256 mismatch");
	expect_failure(f, f->stream, f->stream_len / 2, "");        /* cut short */
	expect_failure(f, "", 0, "too short");
}

static void reports_server_errors(void **state)
{
	struct fixture *f = *state;
	const char *mid = "{\"result\":{\"blob\":\"AAAA\"}}\n{\"error\":{\"grpc_code\":14,\"http_code\":503,"
			  "\"message\":\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}\n";
	expect_failure(f, mid, strlen(mid), "etcdserver: no leader");
	const char *first = "{\"error\":\"etcdserver: permission denied\",\"code\":7,\"message\":\"etcdserver: permission denied\"}";
	expect_failure(f, first, strlen(first), "permission denied");
	const char *junk = "Not Found\n";
	expect_failure(f, junk, strlen(junk), "expected an object");
	const char *badb64 = "{\"result\":{\"blob\":\"AA*A\"}}";
	expect_failure(f, badb64, strlen(badb64), "bad base64");
}

static void refuses_a_missing_directory(void **state)
{
	char err[256];
	assert_null(etcd_snapshot_open("/nonexistent-dir/x.db", ETCD_SNAPSHOT_GATEWAY, err, sizeof err));
	assert_non_null(strstr(err, "cannot create"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(receives_whole_and_split_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(accepts_remaining_bytes_field, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(reports_server_errors, setup, teardown),
		cmocka_unit_test(refuses_a_missing_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
