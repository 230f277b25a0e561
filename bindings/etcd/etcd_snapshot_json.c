#include <stdint.h>
#include <string.h>
#include "etcd/etcd_snapshot_internal.h"

/* The JSON gateway's snapshot stream (/v3/maintenance/snapshot): a sequence of {"result":{"blob":"<base64>"}}
 * objects (3.5 adds "remaining_bytes"), or an {"error":{...}} object mid-way. A purpose-built streaming scanner
 * rather than a JSON parser: it tracks just enough structure (nesting, strings, keys) to route the one large
 * string, "result.blob", through a base64 decoder without ever holding it, and to keep a bounded copy of any
 * other top-level object to report an {"error":...}. */

enum scan_state { EXPECT_VALUE, EXPECT_KEY, EXPECT_COLON, AFTER_VALUE, IN_STRING, IN_SCALAR };
#define MAX_DEPTH 16

struct json_scan {
	struct etcd_snapshot *s;
	enum scan_state state;
	int depth;
	char stack[MAX_DEPTH];      /* '{' or '[' */
	int string_is_key, string_is_blob, escaped;
	char key[32], top_key[32];
	size_t key_len;
	int top_is_error, answered;
	char capture[1024];         /* the current top-level object, blobs left out (for error messages) */
	size_t capture_len;
	/* base64 */
	uint32_t quad;
	int nquad, npad;
	unsigned char out[4096];    /* decoded bytes on their way to the writer */
	size_t out_len;
};

static int flush(struct json_scan *j)
{
	size_t n = j->out_len;
	j->out_len = 0;
	return snapshot_write(j->s, j->out, n);
}

static int emit(struct json_scan *j, unsigned char b)
{
	j->out[j->out_len++] = b;
	return j->out_len == sizeof j->out ? flush(j) : 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static int blob_char(struct json_scan *j, unsigned char c)
{
	int v = 0;
	if (c == '=')
		j->npad++;
	else if (j->npad > 0 || (v = b64_value(c)) < 0)
		return snapshot_fail(j->s, "snapshot stream: bad base64 in blob");
	j->quad = (j->quad << 6) | (uint32_t)v;
	if (++j->nquad < 4)
		return 0;
	int r = emit(j, (unsigned char)(j->quad >> 16));
	if (r == 0 && j->npad < 2)
		r = emit(j, (unsigned char)(j->quad >> 8));
	if (r == 0 && j->npad < 1)
		r = emit(j, (unsigned char)j->quad);
	j->quad = 0;
	j->nquad = 0;
	return r;
}

static void capture(struct json_scan *j, unsigned char c)
{
	if (j->capture_len + 1 < sizeof j->capture)
		j->capture[j->capture_len++] = (char)c;
}

/* The server's words from a captured {"error":...} object: its "message" if there is one. */
static int fail_with_server_error(struct json_scan *j)
{
	j->capture[j->capture_len] = '\0';
	char *m = strstr(j->capture, "\"message\":\"");
	if (m != NULL) {
		m += strlen("\"message\":\"");
		char *end = strchr(m, '"');
		if (end != NULL)
			*end = '\0';
		return snapshot_fail(j->s, "snapshot failed on the server: %.200s", m);
	}
	return snapshot_fail(j->s, "snapshot failed on the server: %.200s", j->capture);
}

static int end_string(struct json_scan *j)
{
	if (j->string_is_blob && (j->nquad != 0))
		return snapshot_fail(j->s, "snapshot stream: truncated base64 blob");
	if (j->string_is_key) {
		j->key[j->key_len] = '\0';
		if (j->depth == 1) {
			memcpy(j->top_key, j->key, sizeof j->top_key);
			if (strcmp(j->top_key, "error") == 0)
				j->top_is_error = 1;
		}
		j->state = EXPECT_COLON;
	} else {
		j->state = AFTER_VALUE;
	}
	return 0;
}

static int string_char(struct json_scan *j, unsigned char c)
{
	if (j->escaped) {
		j->escaped = 0;
		if (j->string_is_blob)
			return c == '/' ? blob_char(j, c) : snapshot_fail(j->s, "snapshot stream: escape in blob");
	} else if (c == '\\') {
		j->escaped = 1;
		return 0;
	} else if (c == '"') {
		return end_string(j);
	}
	if (j->string_is_blob)
		return blob_char(j, c);
	if (j->string_is_key && j->key_len + 1 < sizeof j->key)
		j->key[j->key_len++] = (char)c;
	return 0;
}

static void begin_string(struct json_scan *j, int is_key)
{
	j->state = IN_STRING;
	j->string_is_key = is_key;
	j->string_is_blob = !is_key && j->depth == 2 && strcmp(j->top_key, "result") == 0 &&
			    strcmp(j->key, "blob") == 0;
	j->key_len = 0;
	j->quad = 0;
	j->nquad = j->npad = 0;
}

static int open_container(struct json_scan *j, unsigned char c)
{
	if (j->depth == MAX_DEPTH)
		return snapshot_fail(j->s, "snapshot stream: nested too deep");
	if (j->depth == 0) {
		j->capture_len = 0;
		j->top_is_error = 0;
		j->top_key[0] = '\0';
	}
	j->stack[j->depth++] = (char)c;
	j->state = c == '{' ? EXPECT_KEY : EXPECT_VALUE;
	return 0;
}

static int close_container(struct json_scan *j, unsigned char c)
{
	if (j->depth == 0 || j->stack[j->depth - 1] != (c == '}' ? '{' : '['))
		return snapshot_fail(j->s, "snapshot stream: unbalanced %c", c);
	j->depth--;
	j->state = AFTER_VALUE;
	if (j->depth == 0 && j->top_is_error)
		return fail_with_server_error(j);
	return 0;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int structural_char(struct json_scan *j, unsigned char c)
{
	if (j->state == IN_SCALAR) {
		if (!is_space(c) && c != ',' && c != '}' && c != ']')
			return 0;
		j->state = AFTER_VALUE;
	}
	if (is_space(c))
		return 0;
	switch (j->state) {
	case EXPECT_KEY:
		if (c == '"')
			return begin_string(j, 1), 0;
		return c == '}' ? close_container(j, c) : snapshot_fail(j->s, "snapshot stream: expected a key");
	case EXPECT_COLON:
		if (c != ':')
			return snapshot_fail(j->s, "snapshot stream: expected ':'");
		j->state = EXPECT_VALUE;
		return 0;
	case EXPECT_VALUE:
		if (c == '{' || c == '[')
			return open_container(j, c);
		if (j->depth == 0)
			return snapshot_fail(j->s, "snapshot stream: expected an object");
		if (c == '"')
			return begin_string(j, 0), 0;
		if (c == ']' && j->stack[j->depth - 1] == '[')
			return close_container(j, c);
		j->state = IN_SCALAR;
		return 0;
	case AFTER_VALUE:
		if (j->depth == 0)
			return j->state = EXPECT_VALUE, structural_char(j, c);
		if (c == ',')
			return j->state = j->stack[j->depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE, 0;
		if (c == '}' || c == ']')
			return close_container(j, c);
		return snapshot_fail(j->s, "snapshot stream: expected ',' or a closing bracket");
	default:
		return snapshot_fail(j->s, "snapshot stream: internal state");
	}
}

/* The fast path: a run of whole base64 quads inside a blob. Returns how many bytes of data it took. */
static size_t blob_run(struct json_scan *j, const unsigned char *data, size_t len)
{
	size_t i = 0;

	while (i + 4 <= len) {
		int a = b64_value(data[i]), b = b64_value(data[i + 1]);
		int c = b64_value(data[i + 2]), d = b64_value(data[i + 3]);
		if ((a | b | c | d) < 0)
			break;
		if (j->out_len + 3 > sizeof j->out && flush(j) != 0)
			break;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		j->out[j->out_len++] = (unsigned char)(v >> 16);
		j->out[j->out_len++] = (unsigned char)(v >> 8);
		j->out[j->out_len++] = (unsigned char)v;
		i += 4;
	}
	return i;
}

/* s->failed is the writer's; a failing step returns -1, which ends the loop. */
static int json_feed(struct etcd_snapshot *s, void *state, const unsigned char *data, size_t len)
{
	struct json_scan *j = state;
	int r = 0;

	j->s = s;
	j->answered = 1;
	for (size_t i = 0; i < len && r == 0; i++) {
		if (j->state == IN_STRING && j->string_is_blob && !j->escaped && j->nquad == 0 && j->npad == 0) {
			i += blob_run(j, data + i, len - i);
			if (i >= len || *etcd_snapshot_error(s))
				break;
		}
		unsigned char c = data[i];
		if (j->depth > 0 && !(j->state == IN_STRING && j->string_is_blob))
			capture(j, c);
		r = j->state == IN_STRING ? string_char(j, c) : structural_char(j, c);
	}
	if (*etcd_snapshot_error(s))
		return -1;
	return r == 0 ? flush(j) : r;
}

static int json_answered(const void *state)
{
	return ((const struct json_scan *)state)->answered;
}

static int json_end(struct etcd_snapshot *s, void *state, struct etcd_snapshot_result *res)
{
	struct json_scan *j = state;
	if (j->depth != 0 || j->state == IN_STRING)
		return snapshot_fail(s, "snapshot stream ended in the middle of a message");
	return 0;
}

const struct snapshot_decoder snapshot_json_decoder = {
	.state_size = sizeof(struct json_scan),
	.feed = json_feed,
	.header = NULL,
	.answered = json_answered,
	.end = json_end,
};
