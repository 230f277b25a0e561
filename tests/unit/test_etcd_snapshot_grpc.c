/* The gRPC snapshot stream decoder (bindings/etcd/etcd_snapshot_grpc.c) in front of the snapshot file writer:
 * SnapshotResponse messages split anywhere (byte by byte, random splits, a blob spanning reads), unknown
 * fields skipped, remaining_bytes checked at the end, the status from the trailers, and refusals (compression,
 * absurd lengths, a truncated stream, a non-zero grpc-status) that leave no file behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "etcd/etcd_snapshot.h"
#include "snapshot_check.h"

#define DB_SIZE 100000
#define CHUNK 32768

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put_varint(struct buf *b, uint64_t v)
{
	do {
		unsigned char c = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		put(b, &c, 1);
	} while (v);
}

static void put_bytes_field(struct buf *b, unsigned field, const void *data, size_t n)
{
	put_varint(b, (uint64_t)field << 3 | 2);
	put_varint(b, n);
	put(b, data, n);
}

/* One gRPC frame around a message. */
static void put_frame(struct buf *out, const struct buf *msg, unsigned char flag)
{
	unsigned char prefix[5] = {flag, (unsigned char)(msg->len >> 24), (unsigned char)(msg->len >> 16),
				   (unsigned char)(msg->len >> 8), (unsigned char)msg->len};
	put(out, prefix, 5);
	put(out, msg->p, msg->len);
}

struct fixture {
	char dir[64], path[96];
	unsigned char db[DB_SIZE + 32];   /* database + trailer, what the file must hold */
	struct buf stream;
};

static void put_response(struct buf *out, const unsigned char *blob, size_t n, uint64_t remaining, int with_unknown)
{
	struct buf m = {0};
	struct buf header = {0};
	put_varint(&header, 1 << 3 | 0);   /* ResponseHeader.cluster_id */
	put_varint(&header, 0x1234567890abcdefULL);
	put_bytes_field(&m, 1, header.p, header.len);
	if (remaining) {                   /* proto3: a zero is not sent */
		put_varint(&m, 2 << 3 | 0);
		put_varint(&m, remaining);
	}
	if (with_unknown) {
		put_varint(&m, 9 << 3 | 0), put_varint(&m, 300);
		put_varint(&m, 10 << 3 | 5), put(&m, "\1\2\3\4", 4);
		put_varint(&m, 11 << 3 | 1), put(&m, "\1\2\3\4\5\6\7\10", 8);
		put_bytes_field(&m, 1234, "future", 6);
	}
	put_bytes_field(&m, 3, blob, n);
	put_bytes_field(&m, 4, "3.6.0", 5);
	put_frame(out, &m, 0);
	free(m.p);
	free(header.p);
}

/* The whole body: blobs of chunk bytes, then the 32-byte hash as its own message, as etcd sends them. */
static void build_stream(struct fixture *f, size_t chunk, int with_unknown)
{
	f->stream.len = 0;
	for (size_t off = 0; off < DB_SIZE;) {
		size_t n = DB_SIZE - off < chunk ? DB_SIZE - off : chunk;
		put_response(&f->stream, f->db + off, n, DB_SIZE - off - n, with_unknown);
		off += n;
	}
	put_response(&f->stream, f->db + DB_SIZE, 32, 0, with_unknown);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/medic-snapg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/db.snap", f->dir);
	fill_database(f->db, DB_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	assert_int_equal(files_in(f->dir), 0);
	rmdir(f->dir);
	free(f->stream.p);
	free(f);
	return 0;
}

static int header(struct etcd_snapshot *s, const char *line)
{
	return etcd_snapshot_header(s, line, strlen(line));
}

static struct etcd_snapshot *open_with_headers(struct fixture *f)
{
	char err[256];
	struct etcd_snapshot *s = etcd_snapshot_open(f->path, ETCD_SNAPSHOT_GRPC, err, sizeof err);
	assert_non_null(s);
	assert_false(etcd_snapshot_answered(s));
	assert_int_equal(header(s, "HTTP/2 200\r\n"), 0);
	assert_int_equal(header(s, "Content-Type: application/grpc\r\n"), 0);
	assert_true(etcd_snapshot_answered(s));
	return s;
}

/* Feeds the body in pieces: piece > 0 a fixed size, 0 random sizes (1 to 70000 bytes, seeded). */
static int feed_in_pieces(struct etcd_snapshot *s, const unsigned char *data, size_t len, size_t piece)
{
	for (size_t off = 0; off < len;) {
		size_t n = piece ? piece : 1 + (size_t)rand() % (rand() % 4 ? 64 : 70000);
		n = len - off < n ? len - off : n;
		if (etcd_snapshot_feed(s, (const char *)data + off, n) != 0)
			return -1;
		off += n;
	}
	return 0;
}

static void receive(struct fixture *f, size_t piece)
{
	char err[256] = "";
	struct etcd_snapshot_result res;
	struct etcd_snapshot *s = open_with_headers(f);
	assert_int_equal(feed_in_pieces(s, f->stream.p, f->stream.len, piece), 0);
	assert_int_equal(header(s, "grpc-status: 0\r\n"), 0);
	assert_int_equal(header(s, "grpc-message: \r\n"), 0);
	if (etcd_snapshot_finish(s, &res, err, sizeof err) != 0)
		fail_msg("finish: %s", err);
	assert_string_equal(res.version, "3.6.0");
	assert_snapshot_saved(f->path, f->dir, f->db, DB_SIZE + 32, &res);
	unlink(f->path);
}

static void receives_a_stream_split_anywhere(void **state)
{
	struct fixture *f = *state;
	build_stream(f, CHUNK, 0);
	receive(f, f->stream.len);
	receive(f, 1);        /* every boundary: inside prefixes, tags, varints, blobs */
	receive(f, 4093);     /* a blob spanning reads */
	srand(42);
	for (int i = 0; i < 20; i++)
		receive(f, 0);
}

static void skips_unknown_fields(void **state)
{
	struct fixture *f = *state;
	build_stream(f, 1000, 1);
	receive(f, 1);
	receive(f, 777);
}

/* Large blobs (one message is not a unit of buffering): a 100000-byte blob, fed in small pieces. */
static void streams_a_large_blob(void **state)
{
	struct fixture *f = *state;
	build_stream(f, DB_SIZE, 0);
	receive(f, 100);
}

static void expect_failure_ex(struct fixture *f, const unsigned char *body, size_t len, const char *status,
			      const char *message, const char *needle)
{
	char err[256] = "";
	struct etcd_snapshot_result res;
	struct etcd_snapshot *s = open_with_headers(f);
	feed_in_pieces(s, body, len, 3);
	if (status)
		header(s, status);
	if (message)
		header(s, message);
	assert_int_equal(etcd_snapshot_finish(s, &res, err, sizeof err), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(files_in(f->dir), 0);
}

static void expect_failure(struct fixture *f, const struct buf *b, const char *needle)
{
	expect_failure_ex(f, b->p, b->len, "grpc-status: 0\r\n", NULL, needle);
}

static void refuses_truncation_and_corruption(void **state)
{
	struct fixture *f = *state;
	build_stream(f, CHUNK, 0);
	struct buf cut = {f->stream.p, f->stream.len - 10, 0};
	expect_failure(f, &cut, "middle of a gRPC message");
	expect_failure_ex(f, f->stream.p, f->stream.len, NULL, NULL, "without a grpc-status");
	/* cut at a message boundary: only remaining_bytes tells */
	struct buf first = {0};
	put_response(&first, f->db, CHUNK, DB_SIZE + 32 - CHUNK, 0);
	expect_failure(f, &first, "still to come");
	free(first.p);
	f->db[500] ^= 1;
	build_stream(f, CHUNK, 0);
	expect_failure(f, &f->stream, "SHA-256 mismatch");
	struct buf empty = {0};
	expect_failure(f, &empty, "too short");
}

static void refuses_compression_and_absurd_lengths(void **state)
{
	struct fixture *f = *state;
	struct buf b = {0}, m = {0};
	put_bytes_field(&m, 3, "abc", 3);
	put_frame(&b, &m, 1);
	expect_failure(f, &b, "compressed");
	b.len = 0;
	put_frame(&b, &m, 2);
	expect_failure(f, &b, "flag");
	b.len = 0;
	put(&b, "\0\xff\xff\xff\xff", 5);
	expect_failure(f, &b, "at most");
	/* a blob longer than its message */
	b.len = m.len = 0;
	put_varint(&m, 3 << 3 | 2);
	put_varint(&m, 1000);
	put(&m, "abc", 3);
	put_frame(&b, &m, 0);
	expect_failure(f, &b, "past the end");
	/* a varint cut by the end of its message, and one too long */
	b.len = m.len = 0;
	put(&m, "\x10\x80", 2);
	put_frame(&b, &m, 0);
	expect_failure(f, &b, "past the end");
	b.len = m.len = 0;
	put(&m, "\x10\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12);
	put_frame(&b, &m, 0);
	expect_failure(f, &b, "too long");
	/* the blob with the wrong wire type, a group */
	b.len = m.len = 0;
	put(&m, "\x18\x01", 2);
	put_frame(&b, &m, 0);
	expect_failure(f, &b, "wire type");
	b.len = m.len = 0;
	put(&m, "\x2b", 1);
	put_frame(&b, &m, 0);
	expect_failure(f, &b, "wire type");
	free(b.p);
	free(m.p);
}

static void reports_the_grpc_status(void **state)
{
	struct fixture *f = *state;
	build_stream(f, CHUNK, 0);
	/* mid-stream: the server gave up; its message is percent-encoded */
	struct buf part = {f->stream.p, CHUNK + 40, 0};
	expect_failure_ex(f, part.p, part.len, "grpc-status: 14\r\n",
			  "grpc-message: etcdserver%3A no leader %25\r\n", "etcdserver: no leader % (gRPC status 14)");
	/* trailers-only: the status among the headers, no body */
	expect_failure_ex(f, NULL, 0, "grpc-status: 7\r\n", "grpc-message: permission denied\r\n",
			  "permission denied (gRPC status 7)");
	expect_failure_ex(f, NULL, 0, "grpc-status: x\r\n", NULL, "bad grpc-status");
}

static void refuses_a_non_grpc_answer(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct etcd_snapshot_result res;
	struct etcd_snapshot *s = etcd_snapshot_open(f->path, ETCD_SNAPSHOT_GRPC, err, sizeof err);
	assert_non_null(s);
	header(s, "HTTP/1.1 200 OK\r\n");
	header(s, "Content-Type: application/grpc-web\r\n");
	assert_int_equal(etcd_snapshot_feed(s, "{}", 2), -1);
	assert_false(etcd_snapshot_answered(s));   /* the caller may try the gateway */
	assert_non_null(strstr(etcd_snapshot_error(s), "not a gRPC response"));
	assert_int_equal(etcd_snapshot_finish(s, &res, err, sizeof err), -1);
	assert_int_equal(files_in(f->dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(receives_a_stream_split_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(skips_unknown_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(streams_a_large_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_truncation_and_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_compression_and_absurd_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(reports_the_grpc_status, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_a_non_grpc_answer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
