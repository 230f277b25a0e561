/* The confined root of the local node backend: path validation, resolution below the root, and the
 * simple operations (stat, list, mkdir, read). Moving lives in fsmove.c, tree copies in fstree.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "base/errors.h"
#include "node/fsroot.h"

const char *fs_code(int err)
{
	switch (err) {
	case ENOENT: return MEDIC_E_NOT_FOUND;
	case EEXIST: case ENOTEMPTY: return MEDIC_E_ALREADY_EXISTS;
	case EACCES: case EPERM: return MEDIC_E_PERMISSION;
	case ENOTDIR: return MEDIC_E_NOT_A_DIRECTORY;
	case EISDIR: return MEDIC_E_IS_A_DIRECTORY;
	case EINVAL: case ENAMETOOLONG: case ELOOP: return MEDIC_E_INVALID_ARGUMENT;
	case EFBIG: case E2BIG: return MEDIC_E_TOO_LARGE;
	case ENOSPC: case EDQUOT: return MEDIC_E_NO_SPACE;
	case EROFS: return MEDIC_E_READ_ONLY;
	case EBUSY: return MEDIC_E_BUSY;
	case ENOTSUP: case ENODEV: return MEDIC_E_UNSUPPORTED;
	case EINTR: return MEDIC_E_INTERRUPTED;
	default: return MEDIC_E_IO_ERROR;
	}
}

/* Sets *e to "<formatted>: <strerror(err)>" (err 0: no suffix) with the code of err; returns -1. */
int fs_fail(struct fs_error *e, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < sizeof e->msg)
		snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(err));
	e->code = fs_code(err);
	return -1;
}

static int invalid(struct fs_error *e, const char *why)
{
	fs_fail(e, 0, "invalid path: %s", why);
	e->code = MEDIC_E_INVALID_ARGUMENT;
	return -1;
}

/* Appends component c (n bytes) to out (length *len), or pops one for "..". */
static int push_component(char *out, size_t *len, const char *c, size_t n, struct fs_error *e)
{
	if (n == 0 || (n == 1 && c[0] == '.'))
		return 0;
	if (n == 2 && c[0] == '.' && c[1] == '.') {
		if (*len == 0)
			return invalid(e, "'..' leads out of the root");
		while (*len > 0 && out[*len - 1] != '/')
			(*len)--;
		(*len)--;
		return 0;
	}
	if (n > FS_NAME_MAX)
		return invalid(e, "a component is longer than 255 bytes");
	if (*len + 1 + n >= FS_PATH_MAX)
		return invalid(e, "longer than 4095 bytes");
	out[(*len)++] = '/';
	memcpy(out + *len, c, n);
	*len += n;
	return 0;
}

int fs_path_clean(const char *p, size_t len, char out[FS_PATH_MAX], struct fs_error *e)
{
	size_t olen = 0;

	if (len == 0 || p[0] != '/')
		return invalid(e, "not absolute");
	if (memchr(p, '\0', len))
		return invalid(e, "contains a NUL byte");
	if (len >= FS_PATH_MAX)
		return invalid(e, "longer than 4095 bytes");
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && p[j] != '/')
			j++;
		if (push_component(out, &olen, p + i, j - i, e) < 0)
			return -1;
		i = j + 1;
	}
	if (olen == 0)
		out[olen++] = '/';
	out[olen] = '\0';
	return 0;
}

static int label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int fs_valid_subdomain(const char *s, size_t len)
{
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && s[j] != '.') {
			if (!label_char(s[j]))
				return 0;
			j++;
		}
		if (j == i || s[i] == '-' || s[j - 1] == '-' || j - i > 63)
			return 0;
		if (j == len - 1)	/* trailing dot */
			return 0;
		i = j + 1;
	}
	return 1;
}

int fs_root_open(struct fs_root *r, const char *dir, struct fs_error *e)
{
	struct stat st;

	r->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0)
		return fs_fail(e, errno, "root %s", dir);
	if (fstat(r->fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fs_root_close(r);
		return fs_fail(e, ENOTDIR, "root %s", dir);
	}
	return 0;
}

void fs_root_close(struct fs_root *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int fs_open_at(const struct fs_root *r, const char *p, int flags)
{
	const char *rel = p[1] ? p + 1 : ".";
	struct open_how how = {
		.flags = (unsigned)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, r->fd, rel, &how, sizeof how);

	if (fd < 0 && errno == ENOSYS)	/* before Linux 5.6: the lexical check alone confines */
		fd = openat(r->fd, rel, flags | O_CLOEXEC);
	return fd;
}

int fs_open_parent(const struct fs_root *r, const char *p, const char **base, struct fs_error *e)
{
	char parent[FS_PATH_MAX];
	const char *slash = strrchr(p, '/');
	size_t n = (size_t)(slash - p);
	int fd;

	*base = slash + 1;
	if (n == 0)
		n = 1;
	memcpy(parent, p, n);
	parent[n] = '\0';
	fd = fs_open_at(r, parent, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fs_fail(e, errno, "%s", parent);
	return fd;
}

int fs_lstat(const struct fs_root *r, const char *p, struct stat *st, struct fs_error *e)
{
	const char *base;
	int dfd = fs_open_parent(r, p, &base, e), rc;

	if (dfd < 0)
		return -1;
	rc = fstatat(dfd, base, st, *base ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH);
	if (rc < 0)
		fs_fail(e, errno, "%s", p);
	close(dfd);
	return rc < 0 ? -1 : 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fs_names_free(struct fs_names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

static int names_add(struct fs_names *out, size_t *cap, const char *name)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **v = realloc(out->v, ncap * sizeof *v);
		if (!v)
			return -1;
		out->v = v;
		*cap = ncap;
	}
	if (!(out->v[out->n] = strdup(name)))
		return -1;
	out->n++;
	return 0;
}

int fs_names_of(int dirfd, struct fs_names *out, struct fs_error *e)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	size_t cap = 0;
	struct dirent *de;

	out->n = 0;
	out->v = NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return fs_fail(e, errno, "opendir");
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (out->n >= FS_LIST_MAX || names_add(out, &cap, de->d_name) < 0) {
			int err = out->n >= FS_LIST_MAX ? E2BIG : ENOMEM;
			closedir(d);
			fs_names_free(out);
			return fs_fail(e, err, "directory has too many entries");
		}
	}
	int err = errno;
	closedir(d);
	if (err) {
		fs_names_free(out);
		return fs_fail(e, err, "readdir");
	}
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, compare_names);
	return 0;
}

int fs_list(const struct fs_root *r, const char *p, struct fs_names *out, struct fs_error *e)
{
	int fd = fs_open_at(r, p, O_RDONLY | O_DIRECTORY), rc;

	if (fd < 0)
		return fs_fail(e, errno, "%s", p);
	rc = fs_names_of(fd, out, e);
	close(fd);
	return rc;
}

/* mkdir of one clean path; with exist_ok an existing directory (or a symlink to one) is fine. */
static int mkdir_one(const struct fs_root *r, const char *p, int mode, int exist_ok, struct fs_error *e)
{
	const char *base;
	struct stat st;
	int dfd = fs_open_parent(r, p, &base, e), rc = 0;

	if (dfd < 0)
		return -1;
	if (!*base) {
		rc = exist_ok ? 0 : fs_fail(e, EEXIST, "%s", p);
	} else if (mkdirat(dfd, base, (mode_t)mode) == 0) {
		rc = fchmodat(dfd, base, (mode_t)mode, 0) < 0 ? fs_fail(e, errno, "chmod %s", p) : 0;
	} else if (errno != EEXIST || !exist_ok) {
		rc = fs_fail(e, errno, "mkdir %s", p);
	} else if (fstatat(dfd, base, &st, 0) < 0 || !S_ISDIR(st.st_mode)) {
		rc = fs_fail(e, ENOTDIR, "mkdir %s: exists", p);
	}
	close(dfd);
	return rc;
}

int fs_mkdir(const struct fs_root *r, const char *p, int parents, int mode, struct fs_error *e)
{
	char prefix[FS_PATH_MAX];

	if (!parents)
		return mkdir_one(r, p, mode, 0, e);
	for (size_t i = 1;; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		memcpy(prefix, p, i);
		prefix[i] = '\0';
		if (mkdir_one(r, prefix, p[i] ? 0755 : mode, 1, e) < 0)
			return -1;
		if (!p[i])
			return 0;
	}
}

static int grow(char **b, size_t *cap, size_t limit)
{
	size_t ncap = *cap * 2 > limit ? limit : *cap * 2;
	char *nb = realloc(*b, ncap + 1);

	if (!nb)
		return ENOMEM;
	*b = nb;
	*cap = ncap;
	return 0;
}

/* Reads fd to its end into a malloc'd buffer that grows up to max + 1 bytes (one more tells "too large"). */
static int read_all(int fd, size_t hint, size_t max, char **buf, size_t *len)
{
	size_t cap = (hint < max ? hint : max) + 1, got = 0;
	char *b = malloc(cap + 1);
	int err = b ? 0 : ENOMEM;

	while (!err) {
		ssize_t n = read(fd, b + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : 0;
			break;
		}
		if ((got += (size_t)n) > max)
			err = EFBIG;
		else if (got == cap)
			err = grow(&b, &cap, max + 1);
	}
	if (err) {
		free(b);
		errno = err;
		return -1;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

int fs_read(const struct fs_root *r, const char *p, size_t max, char **buf, size_t *len, struct fs_error *e)
{
	struct stat st;
	int fd = fs_open_at(r, p, O_RDONLY | O_NONBLOCK | O_NOCTTY), rc;

	*buf = NULL;
	if (fd < 0)
		return fs_fail(e, errno, "%s", p);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		close(fd);
		return fs_fail(e, err, "%s: not a regular file", p);
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return fs_fail(e, EFBIG, "%s: larger than %zu bytes", p, max);
	}
	rc = read_all(fd, (size_t)st.st_size, max, buf, len);
	if (rc < 0)
		fs_fail(e, errno, "read %s", p);
	close(fd);
	return rc;
}
