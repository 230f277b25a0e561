#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "crypto_lazy.h"
#include "etcd_snapshot.h"

/* A purpose-built streaming scanner rather than a JSON parser: it tracks just enough structure (nesting,
 * strings, keys) to route the one large string, "result.blob", through a base64 decoder without ever
 * holding it, and to keep a bounded copy of any other top-level object to report an {"error":...}. */

enum scan_state { EXPECT_VALUE, EXPECT_KEY, EXPECT_COLON, AFTER_VALUE, IN_STRING, IN_SCALAR };
#define MAX_DEPTH 16
#define TRAILER 32

struct etcd_snapshot {
	int fd;
	char *tmp_path, *path;
	/* scanner */
	enum scan_state state;
	int depth;
	char stack[MAX_DEPTH];      /* '{' or '[' */
	int string_is_key, string_is_blob, escaped;
	char key[32], top_key[32];
	size_t key_len;
	int top_is_error;
	char capture[1024];         /* the current top-level object, blobs left out (for error messages) */
	size_t capture_len;
	/* base64 */
	uint32_t quad;
	int nquad, npad;
	/* output: everything goes to the file; the hash trails by TRAILER bytes */
	unsigned char out[65536];
	size_t out_len;
	unsigned char tail[TRAILER];
	size_t tail_len;
	EVP_MD_CTX *sha;
	uint64_t size;
	int failed;
	char err[256];
};

static int fail(struct etcd_snapshot *s, const char *fmt, const char *arg)
{
	if (!s->failed)
		snprintf(s->err, sizeof s->err, fmt, arg);
	s->failed = 1;
	return -1;
}

/* Hashes all but the last TRAILER bytes seen so far. */
static void hash_push(struct etcd_snapshot *s, const unsigned char *data, size_t n)
{
	if (s->tail_len + n <= TRAILER) {
		memcpy(s->tail + s->tail_len, data, n);
		s->tail_len += n;
		return;
	}
	size_t hashn = s->tail_len + n - TRAILER;
	size_t from_tail = hashn < s->tail_len ? hashn : s->tail_len;
	size_t from_data = hashn - from_tail;
	EVP_DigestUpdate(s->sha, s->tail, from_tail);
	EVP_DigestUpdate(s->sha, data, from_data);
	memmove(s->tail, s->tail + from_tail, s->tail_len - from_tail);
	s->tail_len -= from_tail;
	memcpy(s->tail + s->tail_len, data + from_data, n - from_data);
	s->tail_len += n - from_data;
}

static int flush_out(struct etcd_snapshot *s)
{
	hash_push(s, s->out, s->out_len);
	for (size_t off = 0; off < s->out_len;) {
		ssize_t w = write(s->fd, s->out + off, s->out_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(s, "writing the snapshot: %s", strerror(errno));
		off += (size_t)w;
	}
	s->size += s->out_len;
	s->out_len = 0;
	return 0;
}

static int emit(struct etcd_snapshot *s, unsigned char b)
{
	s->out[s->out_len++] = b;
	return s->out_len == sizeof s->out ? flush_out(s) : 0;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static int blob_char(struct etcd_snapshot *s, char c)
{
	int v = 0;
	if (c == '=')
		s->npad++;
	else if (s->npad > 0 || (v = b64_value(c)) < 0)
		return fail(s, "snapshot stream: bad base64 in blob%s", "");
	s->quad = (s->quad << 6) | (uint32_t)v;
	if (++s->nquad < 4)
		return 0;
	int r = emit(s, (unsigned char)(s->quad >> 16));
	if (r == 0 && s->npad < 2)
		r = emit(s, (unsigned char)(s->quad >> 8));
	if (r == 0 && s->npad < 1)
		r = emit(s, (unsigned char)s->quad);
	s->quad = 0;
	s->nquad = 0;
	return r;
}

static void capture(struct etcd_snapshot *s, char c)
{
	if (s->capture_len + 1 < sizeof s->capture)
		s->capture[s->capture_len++] = c;
}

/* The server's words from a captured {"error":...} object: its "message" if there is one. */
static int fail_with_server_error(struct etcd_snapshot *s)
{
	s->capture[s->capture_len] = '\0';
	char *m = strstr(s->capture, "\"message\":\"");
	if (m != NULL) {
		m += strlen("\"message\":\"");
		char *end = strchr(m, '"');
		if (end != NULL)
			*end = '\0';
		return fail(s, "snapshot failed on the server: %.200s", m);
	}
	return fail(s, "snapshot failed on the server: %.200s", s->capture);
}

static int end_string(struct etcd_snapshot *s)
{
	if (s->string_is_blob && (s->nquad != 0))
		return fail(s, "snapshot stream: truncated base64 blob%s", "");
	if (s->string_is_key) {
		s->key[s->key_len] = '\0';
		if (s->depth == 1) {
			memcpy(s->top_key, s->key, sizeof s->top_key);
			if (strcmp(s->top_key, "error") == 0)
				s->top_is_error = 1;
		}
		s->state = EXPECT_COLON;
	} else {
		s->state = AFTER_VALUE;
	}
	return 0;
}

static int string_char(struct etcd_snapshot *s, char c)
{
	if (s->escaped) {
		s->escaped = 0;
		if (s->string_is_blob)
			return c == '/' ? blob_char(s, c) : fail(s, "snapshot stream: escape in blob%s", "");
	} else if (c == '\\') {
		s->escaped = 1;
		return 0;
	} else if (c == '"') {
		return end_string(s);
	}
	if (s->string_is_blob)
		return blob_char(s, c);
	if (s->string_is_key && s->key_len + 1 < sizeof s->key)
		s->key[s->key_len++] = c;
	return 0;
}

static void begin_string(struct etcd_snapshot *s, int is_key)
{
	s->state = IN_STRING;
	s->string_is_key = is_key;
	s->string_is_blob = !is_key && s->depth == 2 && strcmp(s->top_key, "result") == 0 &&
			    strcmp(s->key, "blob") == 0;
	s->key_len = 0;
	s->quad = 0;
	s->nquad = s->npad = 0;
}

static int open_container(struct etcd_snapshot *s, char c)
{
	if (s->depth == MAX_DEPTH)
		return fail(s, "snapshot stream: nested too deep%s", "");
	if (s->depth == 0) {
		s->capture_len = 0;
		s->top_is_error = 0;
		s->top_key[0] = '\0';
	}
	s->stack[s->depth++] = c;
	s->state = c == '{' ? EXPECT_KEY : EXPECT_VALUE;
	return 0;
}

static int close_container(struct etcd_snapshot *s, char c)
{
	if (s->depth == 0 || s->stack[s->depth - 1] != (c == '}' ? '{' : '['))
		return fail(s, "snapshot stream: unbalanced %s", c == '}' ? "}" : "]");
	s->depth--;
	s->state = AFTER_VALUE;
	if (s->depth == 0 && s->top_is_error)
		return fail_with_server_error(s);
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int structural_char(struct etcd_snapshot *s, char c)
{
	if (s->state == IN_SCALAR) {
		if (!is_space(c) && c != ',' && c != '}' && c != ']')
			return 0;
		s->state = AFTER_VALUE;
	}
	if (is_space(c))
		return 0;
	switch (s->state) {
	case EXPECT_KEY:
		if (c == '"')
			return begin_string(s, 1), 0;
		return c == '}' ? close_container(s, c) : fail(s, "snapshot stream: expected a key%s", "");
	case EXPECT_COLON:
		if (c != ':')
			return fail(s, "snapshot stream: expected ':'%s", "");
		s->state = EXPECT_VALUE;
		return 0;
	case EXPECT_VALUE:
		if (c == '{' || c == '[')
			return open_container(s, c);
		if (s->depth == 0)
			return fail(s, "snapshot stream: expected an object%s", "");
		if (c == '"')
			return begin_string(s, 0), 0;
		if (c == ']' && s->stack[s->depth - 1] == '[')
			return close_container(s, c);
		s->state = IN_SCALAR;
		return 0;
	case AFTER_VALUE:
		if (s->depth == 0)
			return s->state = EXPECT_VALUE, structural_char(s, c);
		if (c == ',')
			return s->state = s->stack[s->depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE, 0;
		if (c == '}' || c == ']')
			return close_container(s, c);
		return fail(s, "snapshot stream: expected ',' or a closing bracket%s", "");
	default:
		return fail(s, "snapshot stream: internal state%s", "");
	}
}

/* The fast path: a run of whole base64 quads inside a blob. Returns how many bytes of data it took. */
static size_t blob_run(struct etcd_snapshot *s, const char *data, size_t len)
{
	size_t i = 0;

	while (i + 4 <= len) {
		int a = b64_value(data[i]), b = b64_value(data[i + 1]);
		int c = b64_value(data[i + 2]), d = b64_value(data[i + 3]);
		if ((a | b | c | d) < 0)
			break;
		if (s->out_len + 3 > sizeof s->out && flush_out(s) != 0)
			break;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		s->out[s->out_len++] = (unsigned char)(v >> 16);
		s->out[s->out_len++] = (unsigned char)(v >> 8);
		s->out[s->out_len++] = (unsigned char)v;
		i += 4;
	}
	return i;
}

int etcd_snapshot_feed(struct etcd_snapshot *s, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !s->failed; i++) {
		if (s->state == IN_STRING && s->string_is_blob && !s->escaped && s->nquad == 0 && s->npad == 0) {
			i += blob_run(s, data + i, len - i);
			if (i >= len || s->failed)
				break;
		}
		char c = data[i];
		if (s->depth > 0 && !(s->state == IN_STRING && s->string_is_blob))
			capture(s, c);
		if (s->state == IN_STRING)
			string_char(s, c);
		else
			structural_char(s, c);
	}
	return s->failed ? -1 : 0;
}

const char *etcd_snapshot_error(const struct etcd_snapshot *s)
{
	return s->err;
}

struct etcd_snapshot *etcd_snapshot_open(const char *path, char *errmsg, size_t errlen)
{
	struct etcd_snapshot *s = calloc(1, sizeof *s);
	size_t n = strlen(path);
	if (s == NULL || (s->tmp_path = malloc(n + 8)) == NULL || (s->path = strdup(path)) == NULL ||
	    (s->sha = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL)) {
		/* libcrypto is loaded on first use: a library that cannot be loaded is not "out of memory" */
		const char *why = s && s->path && medic_crypto_error() ? medic_crypto_error() : "out of memory";
		snprintf(errmsg, errlen, "%s", why);
		if (s)
			s->fd = -1;
		etcd_snapshot_abort(s);
		return NULL;
	}
	memcpy(s->tmp_path, path, n);
	memcpy(s->tmp_path + n, ".XXXXXX", 8);
	s->fd = mkstemp(s->tmp_path);   /* mode 0600 */
	if (s->fd < 0) {
		snprintf(errmsg, errlen, "cannot create %s: %s", s->tmp_path, strerror(errno));
		free(s->tmp_path);
		s->tmp_path = NULL;
		etcd_snapshot_abort(s);
		return NULL;
	}
	return s;
}

void etcd_snapshot_abort(struct etcd_snapshot *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->tmp_path != NULL)
		unlink(s->tmp_path);
	EVP_MD_CTX_free(s->sha);
	free(s->tmp_path);
	free(s->path);
	free(s);
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL)
		return -1;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	free(copy);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

static int check_trailer(struct etcd_snapshot *s, struct etcd_snapshot_result *res)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (s->depth != 0 || s->state == IN_STRING)
		return fail(s, "snapshot stream ended in the middle of a message%s", "");
	if (s->size < TRAILER + 1 || s->tail_len != TRAILER)
		return fail(s, "snapshot stream too short: no SHA-256 trailer%s", "");
	EVP_DigestFinal_ex(s->sha, md, &mdlen);
	if (mdlen != TRAILER || memcmp(md, s->tail, TRAILER) != 0)
		return fail(s, "snapshot SHA-256 mismatch: the received database is corrupt%s", "");
	for (int i = 0; i < TRAILER; i++)
		snprintf(res->sha256 + 2 * i, 3, "%02x", s->tail[i]);
	res->size = s->size;
	return 0;
}

static int commit_file(struct etcd_snapshot *s)
{
	if (fsync(s->fd) != 0 || close(s->fd) != 0) {
		s->fd = -1;
		return fail(s, "writing the snapshot: %s", strerror(errno));
	}
	s->fd = -1;
	if (rename(s->tmp_path, s->path) != 0)
		return fail(s, "renaming the snapshot into place: %s", strerror(errno));
	free(s->tmp_path);
	s->tmp_path = NULL;   /* renamed: nothing to remove any more */
	if (fsync_dir_of(s->path) != 0)
		return fail(s, "syncing the snapshot's directory: %s", strerror(errno));
	return 0;
}

int etcd_snapshot_finish(struct etcd_snapshot *s, struct etcd_snapshot_result *res, char *errmsg, size_t errlen)
{
	int r = -1;
	if (!s->failed && flush_out(s) == 0 && check_trailer(s, res) == 0 && commit_file(s) == 0)
		r = 0;
	if (r != 0)
		snprintf(errmsg, errlen, "%s", s->err);
	etcd_snapshot_abort(s);
	return r;
}
