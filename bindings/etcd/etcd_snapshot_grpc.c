#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "etcd/etcd_snapshot_internal.h"

/* gRPC's Maintenance/Snapshot stream: length-prefixed messages (1-byte compressed flag, 4-byte big-endian
 * length, then a protobuf etcdserverpb.SnapshotResponse: 1 header (message), 2 remaining_bytes (varint),
 * 3 blob (bytes), 4 version (string, 3.6)), the status in HTTP/2 trailers (grpc-status, grpc-message).
 * Decoded incrementally: nothing is buffered but a frame prefix and a varint; blob bytes go to the writer as
 * they arrive, so a message or a blob may be split anywhere and be of any length up to MAX_MESSAGE. */

/* etcd sends 32 KiB blobs; anything this large is not a snapshot message */
#define MAX_MESSAGE (16u << 20)
#define FIELD_REMAINING 2
#define FIELD_BLOB 3
#define FIELD_VERSION 4

enum grpc_state { PREFIX, TAG, VARINT, LENGTH, BLOB, SKIP };

struct grpc_scan {
	enum grpc_state state;
	unsigned char prefix[5];
	size_t prefix_len;
	uint64_t message_left;      /* bytes of the current message not yet decoded */
	uint64_t varint;
	int varint_bytes;
	uint32_t field;
	uint64_t field_left;        /* of the current length-delimited field */
	uint64_t remaining;         /* remaining_bytes of the last message (absent = 0) */
	int content_type_ok, answered, status_seen;
	long status;
	char content_type[64];
	char message[200];          /* grpc-message, percent-decoded */
	char version[32];
	size_t version_len;
};

static int after_field(struct grpc_scan *g)
{
	g->state = g->message_left > 0 ? TAG : PREFIX;
	g->varint = 0;
	g->varint_bytes = 0;
	return 0;
}

static int begin_message(struct etcd_snapshot *s, struct grpc_scan *g)
{
	const unsigned char *p = g->prefix;
	uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	g->prefix_len = 0;
	if (p[0] == 1)
		return snapshot_fail(s, "snapshot stream: a compressed gRPC message (none was asked for)");
	if (p[0] != 0)
		return snapshot_fail(s, "snapshot stream: bad gRPC message flag %u", p[0]);
	if (len > MAX_MESSAGE)
		return snapshot_fail(s, "snapshot stream: gRPC message of %u bytes (at most %u expected)", len,
				     MAX_MESSAGE);
	g->message_left = len;
	g->remaining = 0;
	return after_field(g);
}

/* A tag read: where its value goes. Known fields must have their wire type; unknown ones are skipped. */
static int begin_field(struct etcd_snapshot *s, struct grpc_scan *g, uint64_t tag)
{
	unsigned wire = (unsigned)(tag & 7);
	uint64_t field = tag >> 3;
	static const unsigned want[] = {[FIELD_REMAINING] = 0, [FIELD_BLOB] = 2, [FIELD_VERSION] = 2};

	if (field == 0 || field > UINT32_MAX)
		return snapshot_fail(s, "snapshot stream: bad protobuf field number");
	if (wire != 0 && wire != 1 && wire != 2 && wire != 5)
		return snapshot_fail(s, "snapshot stream: unsupported protobuf wire type %u", wire);
	if (field >= FIELD_REMAINING && field <= FIELD_VERSION && wire != want[field])
		return snapshot_fail(s, "snapshot stream: field %u has wire type %u", (unsigned)field, wire);
	if (g->message_left == 0)
		return snapshot_fail(s, "snapshot stream: a field runs past the end of its message");
	g->field = (uint32_t)field;
	g->varint = 0;
	g->varint_bytes = 0;
	switch (wire) {
	case 0: g->state = VARINT; return 0;
	case 2: g->state = LENGTH; return 0;
	default:   /* fixed64, fixed32 */
		g->field_left = wire == 1 ? 8 : 4;
		if (g->field_left > g->message_left)
			return snapshot_fail(s, "snapshot stream: a field runs past the end of its message");
		g->state = SKIP;
		return 0;
	}
}

static int varint_done(struct etcd_snapshot *s, struct grpc_scan *g)
{
	uint64_t v = g->varint;
	switch (g->state) {
	case TAG:
		return begin_field(s, g, v);
	case VARINT:
		if (g->field == FIELD_REMAINING)
			g->remaining = v;
		return after_field(g);
	default:   /* LENGTH */
		if (v > g->message_left)
			return snapshot_fail(s, "snapshot stream: a field of %llu bytes runs past the end of its "
					     "message", (unsigned long long)v);
		g->field_left = v;
		if (g->field == FIELD_VERSION)
			g->version_len = 0;
		g->state = g->field == FIELD_BLOB ? BLOB : SKIP;
		return v == 0 ? after_field(g) : 0;
	}
}

static int varint_byte(struct etcd_snapshot *s, struct grpc_scan *g, unsigned char b)
{
	if (g->varint_bytes == 10)
		return snapshot_fail(s, "snapshot stream: protobuf varint too long");
	g->varint |= (uint64_t)(b & 0x7f) << (7 * g->varint_bytes++);
	g->message_left--;
	if (b & 0x80) {
		if (g->message_left == 0)
			return snapshot_fail(s, "snapshot stream: a field runs past the end of its message");
		return 0;
	}
	return varint_done(s, g);
}

/* The bytes of a length-delimited or fixed-size field: the blob to the writer, the version kept (bounded). */
static size_t field_bytes(struct etcd_snapshot *s, struct grpc_scan *g, const unsigned char *p, size_t n)
{
	if (n > g->field_left)
		n = (size_t)g->field_left;
	if (g->state == BLOB && snapshot_write(s, p, n) != 0)
		return 0;
	if (g->field == FIELD_VERSION)
		for (size_t i = 0; i < n && g->version_len + 1 < sizeof g->version; i++)
			g->version[g->version_len++] = (char)p[i];
	g->field_left -= n;
	g->message_left -= n;
	if (g->field_left == 0)
		after_field(g);
	return n;
}

static int grpc_feed(struct etcd_snapshot *s, void *state, const unsigned char *data, size_t len)
{
	struct grpc_scan *g = state;

	if (!g->content_type_ok)
		return snapshot_fail(s, "not a gRPC response (content-type \"%s\")", g->content_type);
	for (size_t i = 0; i < len;) {
		if (g->state == PREFIX) {
			size_t n = sizeof g->prefix - g->prefix_len;
			n = n < len - i ? n : len - i;
			memcpy(g->prefix + g->prefix_len, data + i, n);
			g->prefix_len += n;
			i += n;
			if (g->prefix_len == sizeof g->prefix && begin_message(s, g) != 0)
				return -1;
		} else if (g->state == BLOB || g->state == SKIP) {
			size_t n = field_bytes(s, g, data + i, len - i);
			if (n == 0)
				return -1;
			i += n;
		} else if (varint_byte(s, g, data[i++]) != 0) {
			return -1;
		}
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	c |= 32;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* grpc-message is percent-encoded (gRPC's PROTOCOL-HTTP2); a bad escape is kept as it is. */
static void percent_decode(char *out, size_t cap, const char *v, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		int hi, lo;
		if (v[i] == '%' && i + 2 < len && (hi = hexval(v[i + 1])) >= 0 && (lo = hexval(v[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = v[i];
		}
	}
	out[o] = '\0';
}

/* "name:" at the start of line (any case): its trimmed value, or NULL. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

static int grpc_header(struct etcd_snapshot *s, void *state, const char *line, size_t len)
{
	struct grpc_scan *g = state;
	const char *v;
	size_t n;

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {   /* a new response (after an interim one) */
		g->content_type_ok = 0;
		g->content_type[0] = '\0';
	} else if ((v = header_value(line, len, "content-type", &n)) != NULL) {
		snprintf(g->content_type, sizeof g->content_type, "%.*s", (int)n, v);
		/* application/grpc, application/grpc+proto, application/grpc; charset=... */
		g->content_type_ok = n >= 16 && strncasecmp(v, "application/grpc", 16) == 0 &&
				     (n == 16 || v[16] == '+' || v[16] == ';');
		g->answered |= g->content_type_ok;
	} else if ((v = header_value(line, len, "grpc-status", &n)) != NULL) {
		long st = 0;
		for (size_t i = 0; i < n && st >= 0; i++)
			st = v[i] >= '0' && v[i] <= '9' && i < 6 ? st * 10 + (v[i] - '0') : -1;
		if (n == 0 || st < 0)
			return snapshot_fail(s, "snapshot stream: bad grpc-status \"%.*s\"", (int)(n < 20 ? n : 20), v);
		g->status = st;
		g->status_seen = g->answered = 1;
	} else if ((v = header_value(line, len, "grpc-message", &n)) != NULL) {
		percent_decode(g->message, sizeof g->message, v, n);
	}
	return 0;
}

static int grpc_answered(const void *state)
{
	return ((const struct grpc_scan *)state)->answered;
}

static int grpc_end(struct etcd_snapshot *s, void *state, struct etcd_snapshot_result *res)
{
	struct grpc_scan *g = state;
	if (g->status_seen && g->status != 0)
		return snapshot_fail(s, "snapshot failed on the server: %s (gRPC status %ld)",
				     g->message[0] ? g->message : "no message", g->status);
	if (g->state != PREFIX || g->prefix_len != 0)
		return snapshot_fail(s, "snapshot stream ended in the middle of a gRPC message");
	if (!g->status_seen)
		return snapshot_fail(s, "snapshot stream ended without a grpc-status (cut short?)");
	if (g->remaining != 0)
		return snapshot_fail(s, "snapshot stream ended with %llu bytes still to come",
				     (unsigned long long)g->remaining);
	memcpy(res->version, g->version, g->version_len);
	res->version[g->version_len] = '\0';
	return 0;
}

const struct snapshot_decoder snapshot_grpc_decoder = {
	.state_size = sizeof(struct grpc_scan),
	.feed = grpc_feed,
	.header = grpc_header,
	.answered = grpc_answered,
	.end = grpc_end,
};
