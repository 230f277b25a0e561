/* Copy, verify and remove a tree, for a move across file systems: what `mv` does after rename says
 * EXDEV, but never replacing anything (every create is exclusive) and checking the copy before the
 * source goes. Regular files, directories, symlinks, fifos and device nodes are copied with owner, mode,
 * timestamps and extended attributes; sockets are refused; hard links become separate files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "base/errors.h"
#include "base/interrupt.h"
#include "base/log.h"
#include "node/fstree.h"

static int stop_if_interrupted(struct fs_tree *t)
{
	if (!medic_interrupted())
		return 0;
	fs_fail(t->e, EINTR, "move interrupted");
	t->e->code = MEDIC_E_INTERRUPTED;
	return -1;
}

static int too_deep(struct fs_tree *t, int depth, const char *name)
{
	if (depth <= FS_DEPTH_MAX)
		return 0;
	return fs_fail(t->e, ELOOP, "%s: more than %d directory levels", name, FS_DEPTH_MAX);
}

/* An entry for the xattr calls: an open fd, or else the path /proc/self/fd/DIRFD/NAME (l* calls). */
struct xnode {
	int fd;
	char path[64 + FS_NAME_MAX];
};

static void xnode_init(struct xnode *x, int fd, int dirfd, const char *name)
{
	x->fd = fd;
	if (fd < 0)
		snprintf(x->path, sizeof x->path, "/proc/self/fd/%d/%s", dirfd, name);
}

static ssize_t x_list(const struct xnode *x, char *b, size_t n)
{
	return x->fd >= 0 ? flistxattr(x->fd, b, n) : llistxattr(x->path, b, n);
}

static ssize_t x_get(const struct xnode *x, const char *key, char *b, size_t n)
{
	return x->fd >= 0 ? fgetxattr(x->fd, key, b, n) : lgetxattr(x->path, key, b, n);
}

static int x_set(const struct xnode *x, const char *key, const char *v, size_t n)
{
	return x->fd >= 0 ? fsetxattr(x->fd, key, v, n, 0) : lsetxattr(x->path, key, v, n, 0);
}

/* Like mv: an attribute the destination refuses (file system without xattrs, a security label the
 * target will not take) is logged and skipped; failing to read the source's is an error. */
static int copy_xattrs(struct fs_tree *t, const struct xnode *s, const struct xnode *d, const char *name)
{
	ssize_t n = x_list(s, t->buf2, FS_TREE_BUF);

	if (n < 0)
		return errno == ENOTSUP ? 0 : fs_fail(t->e, errno, "list xattrs of %s", name);
	for (char *key = t->buf2; key < t->buf2 + n; key += strlen(key) + 1) {
		ssize_t v = x_get(s, key, t->buf, FS_TREE_BUF);
		if (v < 0)
			return fs_fail(t->e, errno, "xattr %s of %s", key, name);
		if (x_set(d, key, t->buf, (size_t)v) < 0)
			medic_log(MEDIC_LOG_WARN, "node", "%s: xattr %s not kept: %s", name, key, strerror(errno));
	}
	return 0;
}

static int chown_result(struct fs_tree *t, int rc, const char *name)
{
	if (rc == 0 || (errno == EPERM && !t->privileged))
		return 0;
	return fs_fail(t->e, errno, "chown %s", name);
}

/* Owner, mode, xattrs, then times (last: the other calls may touch ctime, never mtime). dfd/dname name
 * the destination; fd is it opened (regular files, directories) or -1 (symlinks, fifos, devices). */
static int copy_meta(struct fs_tree *t, const struct stat *st, int sdirfd, const char *sname, int sfd,
		     int dfd, const char *dname, int fd)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	struct xnode xs, xd;
	int link = S_ISLNK(st->st_mode);

	if (chown_result(t, fd >= 0 ? fchown(fd, st->st_uid, st->st_gid)
			 : fchownat(dfd, dname, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW), dname) < 0)
		return -1;
	if (!link && (fd >= 0 ? fchmod(fd, st->st_mode & 07777) : fchmodat(dfd, dname, st->st_mode & 07777, 0)) < 0)
		return fs_fail(t->e, errno, "chmod %s", dname);
	xnode_init(&xs, sfd, sdirfd, sname);
	xnode_init(&xd, fd, dfd, dname);
	if (copy_xattrs(t, &xs, &xd, dname) < 0)
		return -1;
	if ((fd >= 0 ? futimens(fd, ts) : utimensat(dfd, dname, ts, AT_SYMLINK_NOFOLLOW)) < 0)
		return fs_fail(t->e, errno, "set times of %s", dname);
	return 0;
}

static int write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int copy_bytes(struct fs_tree *t, int in, int out, const char *name)
{
	for (;;) {
		if (stop_if_interrupted(t) < 0)
			return -1;
		ssize_t n = read(in, t->buf, FS_TREE_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fs_fail(t->e, errno, "read %s", name);
		if (n == 0)
			return 0;
		if (write_all(out, t->buf, (size_t)n) < 0)
			return fs_fail(t->e, errno, "write %s", name);
	}
}

static int copy_file(struct fs_tree *t, const struct stat *st, int sfd, const char *sname, int dfd,
		     const char *dname, int depth)
{
	int in = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC), out, rc;

	if (in < 0)
		return fs_fail(t->e, errno, "open %s", sname);
	out = openat(dfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return fs_fail(t->e, errno, "create %s", dname);
	}
	t->created_top |= depth == 0;
	rc = copy_bytes(t, in, out, sname);
	if (rc == 0)
		rc = copy_meta(t, st, sfd, sname, in, dfd, dname, out);
	if (rc == 0 && fsync(out) < 0)
		rc = fs_fail(t->e, errno, "fsync %s", dname);
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = fs_fail(t->e, errno, "close %s", dname);
	return rc;
}

static int copy_entry(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname, int depth);

static int copy_children(struct fs_tree *t, int s, int d, int depth)
{
	struct fs_names names;
	int rc = 0;

	if (fs_names_of(s, &names, t->e) < 0)
		return -1;
	for (size_t i = 0; i < names.n && rc == 0; i++)
		rc = copy_entry(t, s, names.v[i], d, names.v[i], depth + 1);
	fs_names_free(&names);
	return rc;
}

static int copy_dir(struct fs_tree *t, const struct stat *st, int sfd, const char *sname, int dfd,
		    const char *dname, int depth)
{
	int s, d = -1, rc = -1;

	if (too_deep(t, depth, sname) < 0)
		return -1;
	if (mkdirat(dfd, dname, 0700) < 0)
		return fs_fail(t->e, errno, "mkdir %s", dname);
	t->created_top |= depth == 0;
	s = openat(sfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return fs_fail(t->e, errno, "open %s", sname);
	d = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		fs_fail(t->e, errno, "open %s", dname);
	else if (copy_children(t, s, d, depth) == 0 && copy_meta(t, st, sfd, sname, s, dfd, dname, d) == 0)
		rc = fsync(d) < 0 ? fs_fail(t->e, errno, "fsync %s", dname) : 0;
	close(s);
	if (d >= 0)
		close(d);
	return rc;
}

static int copy_link(struct fs_tree *t, const struct stat *st, int sfd, const char *sname, int dfd,
		     const char *dname, int depth)
{
	char target[PATH_MAX + 1];
	ssize_t n = readlinkat(sfd, sname, target, PATH_MAX);

	if (n < 0)
		return fs_fail(t->e, errno, "readlink %s", sname);
	target[n] = '\0';
	if (symlinkat(target, dfd, dname) < 0)
		return fs_fail(t->e, errno, "symlink %s", dname);
	t->created_top |= depth == 0;
	return copy_meta(t, st, sfd, sname, -1, dfd, dname, -1);
}

static int copy_special(struct fs_tree *t, const struct stat *st, int sfd, const char *sname, int dfd,
			const char *dname, int depth)
{
	if (S_ISSOCK(st->st_mode))
		return fs_fail(t->e, ENOTSUP, "%s is a socket, which cannot be copied", sname);
	if (mknodat(dfd, dname, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0)
		return fs_fail(t->e, errno, "mknod %s", dname);
	t->created_top |= depth == 0;
	return copy_meta(t, st, sfd, sname, -1, dfd, dname, -1);
}

static int copy_entry(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname, int depth)
{
	struct stat st;

	if (stop_if_interrupted(t) < 0)
		return -1;
	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fs_fail(t->e, errno, "stat %s", sname);
	if (S_ISREG(st.st_mode))
		return copy_file(t, &st, sfd, sname, dfd, dname, depth);
	if (S_ISDIR(st.st_mode))
		return copy_dir(t, &st, sfd, sname, dfd, dname, depth);
	if (S_ISLNK(st.st_mode))
		return copy_link(t, &st, sfd, sname, dfd, dname, depth);
	return copy_special(t, &st, sfd, sname, dfd, dname, depth);
}

int fs_tree_copy(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname)
{
	t->created_top = 0;
	return copy_entry(t, sfd, sname, dfd, dname, 0);
}

static int mismatch(struct fs_tree *t, const char *name, const char *what)
{
	fs_fail(t->e, 0, "verify: %s differs in %s", name, what);
	t->e->code = MEDIC_E_VERIFY_FAILED;
	return -1;
}

static int read_full(int fd, char *b, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, b + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -1 : 0;
		*got += (size_t)r;
	}
	return 0;
}

static int compare_files(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname)
{
	int a = openat(sfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int b = openat(dfd, dname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = a < 0 || b < 0 ? fs_fail(t->e, errno, "verify: open %s", dname) : 1;

	while (rc == 1) {
		size_t na, nb;
		if (stop_if_interrupted(t) < 0)
			rc = -1;
		else if (read_full(a, t->buf, FS_TREE_BUF, &na) < 0 || read_full(b, t->buf2, FS_TREE_BUF, &nb) < 0)
			rc = fs_fail(t->e, errno, "verify: read %s", dname);
		else if (na != nb || memcmp(t->buf, t->buf2, na) != 0)
			rc = mismatch(t, dname, "content");
		else if (na == 0)
			rc = 0;
	}
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return rc;
}

static int compare_links(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname)
{
	ssize_t na = readlinkat(sfd, sname, t->buf, FS_TREE_BUF);
	ssize_t nb = readlinkat(dfd, dname, t->buf2, FS_TREE_BUF);

	if (na < 0 || nb < 0)
		return fs_fail(t->e, errno, "verify: readlink %s", dname);
	return na == nb && memcmp(t->buf, t->buf2, (size_t)na) == 0 ? 0 : mismatch(t, dname, "link target");
}

static int verify_entry(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname, int depth);

static int compare_dirs(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname, int depth)
{
	int s = openat(sfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int d = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct fs_names a = { 0, NULL }, b = { 0, NULL };
	int rc = s < 0 || d < 0 ? fs_fail(t->e, errno, "verify: open %s", dname) : 0;

	if (rc == 0 && (fs_names_of(s, &a, t->e) < 0 || fs_names_of(d, &b, t->e) < 0))
		rc = -1;
	if (rc == 0 && a.n != b.n)
		rc = mismatch(t, dname, "number of entries");
	for (size_t i = 0; i < a.n && rc == 0; i++)
		rc = strcmp(a.v[i], b.v[i]) ? mismatch(t, dname, "entry names")
		     : verify_entry(t, s, a.v[i], d, b.v[i], depth + 1);
	fs_names_free(&a);
	fs_names_free(&b);
	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return rc;
}

static int verify_entry(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname, int depth)
{
	struct stat a, b;

	if (too_deep(t, depth, sname) < 0)
		return -1;
	if (fstatat(sfd, sname, &a, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(dfd, dname, &b, AT_SYMLINK_NOFOLLOW) < 0)
		return fs_fail(t->e, errno, "verify: stat %s", dname);
	if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
		return mismatch(t, dname, "type");
	if (!S_ISLNK(a.st_mode) && (a.st_mode & 07777) != (b.st_mode & 07777))
		return mismatch(t, dname, "mode");
	if (t->privileged && (a.st_uid != b.st_uid || a.st_gid != b.st_gid))
		return mismatch(t, dname, "owner");
	if (S_ISREG(a.st_mode))
		return a.st_size != b.st_size ? mismatch(t, dname, "size") : compare_files(t, sfd, sname, dfd, dname);
	if (S_ISLNK(a.st_mode))
		return compare_links(t, sfd, sname, dfd, dname);
	if (S_ISDIR(a.st_mode))
		return compare_dirs(t, sfd, sname, dfd, dname, depth);
	return a.st_rdev == b.st_rdev ? 0 : mismatch(t, dname, "device number");
}

int fs_tree_verify(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname)
{
	return verify_entry(t, sfd, sname, dfd, dname, 0);
}

/* Not interruptible: half a removal is worse than a finished one. */
static int remove_entry(struct fs_tree *t, int dfd, const char *name, int depth)
{
	struct stat st;
	struct fs_names names = { 0, NULL };
	int rc = 0, d;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fs_fail(t->e, errno, "stat %s", name);
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 ? fs_fail(t->e, errno, "unlink %s", name) : 0;
	if (too_deep(t, depth, name) < 0)
		return -1;
	d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return fs_fail(t->e, errno, "open %s", name);
	rc = fs_names_of(d, &names, t->e);
	for (size_t i = 0; i < names.n && rc == 0; i++)
		rc = remove_entry(t, d, names.v[i], depth + 1);
	fs_names_free(&names);
	if (rc == 0 && fsync(d) < 0)
		rc = fs_fail(t->e, errno, "fsync %s", name);
	close(d);
	if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		rc = fs_fail(t->e, errno, "rmdir %s", name);
	return rc;
}

int fs_tree_remove(struct fs_tree *t, int dfd, const char *name)
{
	return remove_entry(t, dfd, name, 0);
}
