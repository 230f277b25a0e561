#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/crypto_lazy.h"
#include "etcd/etcd_snapshot.h"
#include "etcd/etcd_snapshot_internal.h"

/* The snapshot file writer: database bytes from either decoder go to a temporary file through a 64 KiB
 * buffer, hashed as they pass except the last 32 bytes seen, which end up as the trailer to check. */

#define TRAILER 32

struct etcd_snapshot {
	int fd;
	char *tmp_path, *path;
	const struct snapshot_decoder *dec;
	void *state;
	/* everything goes to the file; the hash trails by TRAILER bytes */
	unsigned char out[65536];
	size_t out_len;
	unsigned char tail[TRAILER];
	size_t tail_len;
	EVP_MD_CTX *sha;
	uint64_t size;
	int failed;
	char err[256];
};

int snapshot_fail(struct etcd_snapshot *s, const char *fmt, ...)
{
	if (!s->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof s->err, fmt, ap);
		va_end(ap);
	}
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
			return snapshot_fail(s, "writing the snapshot: %s", strerror(errno));
		off += (size_t)w;
	}
	s->size += s->out_len;
	s->out_len = 0;
	return 0;
}

int snapshot_write(struct etcd_snapshot *s, const unsigned char *data, size_t n)
{
	while (n > 0) {
		size_t room = sizeof s->out - s->out_len, take = n < room ? n : room;
		memcpy(s->out + s->out_len, data, take);
		s->out_len += take;
		data += take;
		n -= take;
		if (s->out_len == sizeof s->out && flush_out(s) != 0)
			return -1;
	}
	return 0;
}

int etcd_snapshot_feed(struct etcd_snapshot *s, const char *data, size_t len)
{
	if (!s->failed && len > 0)
		s->dec->feed(s, s->state, (const unsigned char *)data, len);
	return s->failed ? -1 : 0;
}

int etcd_snapshot_header(struct etcd_snapshot *s, const char *line, size_t len)
{
	if (!s->failed && s->dec->header != NULL)
		s->dec->header(s, s->state, line, len);
	return s->failed ? -1 : 0;
}

int etcd_snapshot_answered(const struct etcd_snapshot *s)
{
	return s->dec->answered(s->state);
}

const char *etcd_snapshot_error(const struct etcd_snapshot *s)
{
	return s->err;
}

struct etcd_snapshot *etcd_snapshot_open(const char *path, enum etcd_snapshot_stream kind, char *errmsg,
					 size_t errlen)
{
	const struct snapshot_decoder *dec =
		kind == ETCD_SNAPSHOT_GRPC ? &snapshot_grpc_decoder : &snapshot_json_decoder;
	struct etcd_snapshot *s = calloc(1, sizeof *s);
	size_t n = strlen(path);
	if (s != NULL)
		s->fd = -1;
	if (s == NULL || (s->state = calloc(1, dec->state_size)) == NULL || (s->tmp_path = malloc(n + 8)) == NULL ||
	    (s->path = strdup(path)) == NULL || (s->sha = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL)) {
		/* libcrypto is loaded on first use: a library that cannot be loaded is not "out of memory" */
		const char *why = s && s->path && medic_crypto_error() ? medic_crypto_error() : "out of memory";
		snprintf(errmsg, errlen, "%s", why);
		if (s != NULL) {
			free(s->tmp_path);
			s->tmp_path = NULL;   /* nothing created yet: nothing to unlink */
		}
		etcd_snapshot_abort(s);
		return NULL;
	}
	s->dec = dec;
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
	free(s->state);
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
	if (s->size < TRAILER + 1 || s->tail_len != TRAILER)
		return snapshot_fail(s, "snapshot stream too short: no SHA-256 trailer");
	EVP_DigestFinal_ex(s->sha, md, &mdlen);
	if (mdlen != TRAILER || memcmp(md, s->tail, TRAILER) != 0)
		return snapshot_fail(s, "snapshot SHA-256 mismatch: the received database is corrupt");
	for (int i = 0; i < TRAILER; i++)
		snprintf(res->sha256 + 2 * i, 3, "%02x", s->tail[i]);
	res->size = s->size;
	return 0;
}

static int commit_file(struct etcd_snapshot *s)
{
	if (fsync(s->fd) != 0 || close(s->fd) != 0) {
		s->fd = -1;
		return snapshot_fail(s, "writing the snapshot: %s", strerror(errno));
	}
	s->fd = -1;
	if (rename(s->tmp_path, s->path) != 0)
		return snapshot_fail(s, "renaming the snapshot into place: %s", strerror(errno));
	free(s->tmp_path);
	s->tmp_path = NULL;   /* renamed: nothing to remove any more */
	if (fsync_dir_of(s->path) != 0)
		return snapshot_fail(s, "syncing the snapshot's directory: %s", strerror(errno));
	return 0;
}

int etcd_snapshot_finish(struct etcd_snapshot *s, struct etcd_snapshot_result *res, char *errmsg, size_t errlen)
{
	int r = -1;
	memset(res, 0, sizeof *res);
	if (!s->failed && s->dec->end(s, s->state, res) == 0 && flush_out(s) == 0 && check_trailer(s, res) == 0 &&
	    commit_file(s) == 0)
		r = 0;
	if (r != 0)
		snprintf(errmsg, errlen, "%s", s->err);
	etcd_snapshot_abort(s);
	return r;
}
