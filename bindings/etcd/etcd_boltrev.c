#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "etcd/etcd_boltrev.h"

/* bbolt's on-disk layout (go.etcd.io/bbolt page.go, meta in db.go). Every page starts with a 16-byte
 * header {id u64, flags u16, count u16, overflow u32}; elements follow it, 16 bytes each, and an element's
 * key lives at (element address + pos). */
#define PAGE_HEADER 16
#define ELEMENT 16
#define BRANCH_PAGE 0x01
#define LEAF_PAGE 0x02
#define META_PAGE 0x04
#define BUCKET_LEAF 0x01
#define MAGIC 0xED0CDAEDu
#define MAX_DEPTH 32
#define MAX_INLINE 65536

/* Where a page's bytes come from: the file at an offset, or an inline bucket's value in memory. */
struct src {
	int fd;
	uint64_t base;                 /* file offset of the page */
	const unsigned char *mem;      /* inline page, or NULL */
	size_t memlen;
};

static uint16_t u16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int src_read(const struct src *s, uint64_t off, void *buf, size_t n)
{
	if (s->mem != NULL) {
		if (off > s->memlen || n > s->memlen - off)
			return -1;
		memcpy(buf, s->mem + off, n);
		return 0;
	}
	ssize_t r = pread(s->fd, buf, n, (off_t)(s->base + off));
	return r == (ssize_t)n ? 0 : -1;
}

static uint64_t fnv64a(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* The valid meta page with the highest txid: its page size and the root bucket's page. */
static int read_meta(int fd, uint32_t *page_size, uint64_t *root)
{
	unsigned char m[2][80];
	int best = -1;
	if (pread(fd, m[0], sizeof m[0], 0) != (ssize_t)sizeof m[0])
		return -1;
	uint32_t ps = u32(m[0] + 24);
	if (ps < 512 || ps > (1u << 20) || pread(fd, m[1], sizeof m[1], ps) != (ssize_t)sizeof m[1])
		return -1;
	for (int i = 0; i < 2; i++) {
		int ok = (u16(m[i] + 8) & META_PAGE) && u32(m[i] + 16) == MAGIC && u32(m[i] + 20) == 2 &&
			 u32(m[i] + 24) == ps && fnv64a(m[i] + 16, 56) == u64(m[i] + 72);
		if (ok && (best < 0 || u64(m[i] + 64) > u64(m[best] + 64)))
			best = i;
	}
	if (best < 0)
		return -1;
	*page_size = ps;
	*root = u64(m[best] + 32);
	return 0;
}

/* Element i of the page in s: its header (16 bytes) and up to keycap bytes of its key. */
static int element(const struct src *s, unsigned i, unsigned char el[ELEMENT], unsigned char *key, size_t keycap,
		   size_t *klen, int leaf)
{
	uint64_t at = PAGE_HEADER + (uint64_t)i * ELEMENT;
	if (src_read(s, at, el, ELEMENT) != 0)
		return -1;
	uint32_t pos = leaf ? u32(el + 4) : u32(el), ksize = leaf ? u32(el + 8) : u32(el + 4);
	*klen = ksize;
	return src_read(s, at + pos, key, ksize < keycap ? ksize : keycap);
}

static int page_header(const struct src *s, uint16_t *flags, uint16_t *count)
{
	unsigned char h[PAGE_HEADER];
	if (src_read(s, 0, h, sizeof h) != 0)
		return -1;
	*flags = u16(h + 8);
	*count = u16(h + 10);
	return 0;
}

/* Finds bucket `name` in the root bucket's tree; returns its header {root pgid, sequence} (and, for an
 * inline bucket, its page copied into inline/inline_len). */
static int find_bucket(int fd, uint32_t ps, uint64_t root, const char *name, uint64_t *bucket_root,
		       unsigned char *inline_page, size_t *inline_len)
{
	size_t nlen = strlen(name), klen;
	unsigned char el[ELEMENT], key[64];
	struct src s = {.fd = fd, .base = root * ps};
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		uint16_t flags, count;
		if (page_header(&s, &flags, &count) != 0 || count == 0)
			return -1;
		int leaf = (flags & LEAF_PAGE) != 0;
		uint64_t child = 0;
		for (unsigned i = 0; i < count; i++) {
			if (element(&s, i, el, key, sizeof key, &klen, leaf) != 0)
				return -1;
			size_t n = klen < sizeof key ? klen : sizeof key;
			int cmp = memcmp(key, name, n < nlen ? n : nlen);
			if (cmp == 0)
				cmp = (klen > nlen) - (klen < nlen);
			if (!leaf && (cmp <= 0 || i == 0))
				child = u64(el + 8);   /* last branch key <= name */
			if (leaf && cmp == 0 && (u32(el) & BUCKET_LEAF)) {
				uint32_t vsize = u32(el + 12);
				unsigned char hdr[16];
				uint64_t v = PAGE_HEADER + (uint64_t)i * ELEMENT + u32(el + 4) + klen;
				if (vsize < 16 || src_read(&s, v, hdr, 16) != 0)
					return -1;
				*bucket_root = u64(hdr);
				*inline_len = vsize - 16;
				if (*bucket_root != 0)
					return 0;
				return *inline_len <= MAX_INLINE ? src_read(&s, v + 16, inline_page, *inline_len) : -1;
			}
		}
		if (leaf || !(flags & BRANCH_PAGE))
			return -1;
		s.base = child * ps;
	}
	return -1;
}

/* The last key of the tree at s: descend through the last element of every branch page. */
static int last_key(struct src s, uint32_t ps, unsigned char key[18], size_t *klen, int *empty)
{
	unsigned char el[ELEMENT];
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		uint16_t flags, count;
		if (page_header(&s, &flags, &count) != 0)
			return -1;
		if (count == 0) {
			*empty = 1;
			return 0;
		}
		int leaf = (flags & LEAF_PAGE) != 0;
		if (element(&s, count - 1u, el, key, 18, klen, leaf) != 0)
			return -1;
		if (leaf)
			return 0;
		if (!(flags & BRANCH_PAGE) || s.mem != NULL)
			return -1;
		s.base = u64(el + 8) * ps;
	}
	return -1;
}

int etcd_bolt_revision(const char *path, int64_t *revision, char *errmsg, size_t errlen)
{
	unsigned char *inline_page = malloc(MAX_INLINE);
	int fd = inline_page ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		snprintf(errmsg, errlen, "cannot open %s: %s", path, strerror(errno));
		free(inline_page);
		return -1;
	}
	uint32_t ps;
	uint64_t root, broot;
	size_t ilen = 0, klen = 0;
	unsigned char key[18];
	int empty = 0, r = -1;
	if (read_meta(fd, &ps, &root) != 0)
		snprintf(errmsg, errlen, "%s: not a bbolt database (no valid meta page)", path);
	else if (find_bucket(fd, ps, root, "key", &broot, inline_page, &ilen) != 0)
		snprintf(errmsg, errlen, "%s: no \"key\" bucket: not an etcd database", path);
	else if (last_key((struct src){.fd = fd, .base = broot * ps, .mem = broot ? NULL : inline_page,
				       .memlen = ilen}, ps, key, &klen, &empty) != 0)
		snprintf(errmsg, errlen, "%s: unreadable \"key\" bucket", path);
	else if (!empty && (klen < 17 || key[8] != '_'))
		snprintf(errmsg, errlen, "%s: unexpected key in the \"key\" bucket", path);
	else
		r = 0;
	close(fd);
	free(inline_page);
	if (r == 0) {
		uint64_t main_rev = 0;
		for (int i = 0; i < 8 && !empty; i++)
			main_rev = (main_rev << 8) | key[i];
		*revision = (int64_t)main_rev;
	}
	return r;
}
