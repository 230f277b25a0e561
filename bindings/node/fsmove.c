/* fs_move: rename without replacing, or across file systems copy, verify, then remove the source. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "base/errors.h"
#include "base/log.h"
#include "node/fsmove.h"
#include "node/fsroot.h"
#include "node/fstree.h"

static int invalid_move(struct fs_error *e, const char *why, const char *src, const char *dst)
{
	fs_fail(e, 0, "move %s to %s: %s", src, dst, why);
	e->code = MEDIC_E_INVALID_ARGUMENT;
	return -1;
}

static int is_inside(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 && p[n] == '/';
}

/* renameat2 with RENAME_NOREPLACE; where the file system does not know the flag (EINVAL) an lstat of
 * the destination and a plain renameat stand in, which leaves a window a concurrent writer could use. */
static int rename_noreplace(int sfd, const char *sname, int dfd, const char *dname)
{
	struct stat st;

	if (renameat2(sfd, sname, dfd, dname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (fstatat(dfd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	medic_log(MEDIC_LOG_WARN, "node", "RENAME_NOREPLACE not supported here; checked, then renamed");
	return renameat(sfd, sname, dfd, dname);
}

static int fsync_dir(int fd)
{
	return fsync(fd) < 0 && errno != EINVAL ? -1 : 0;
}

/* Removes what a failed copy created under name in dfd; a failure to do so is logged, not returned. */
static void remove_partial(struct fs_tree *t, int dfd, const char *name, const char *dst)
{
	struct fs_error cleanup = { NULL, "" }, *keep = t->e;

	t->e = &cleanup;
	if (fs_tree_remove(t, dfd, name) < 0)
		medic_log(MEDIC_LOG_ERROR, "node", "removing the partial copy of %s failed: %s", dst, cleanup.msg);
	t->e = keep;
}

/* Copies to a fresh hidden name in dst's directory (retried if taken), so dst never shows a partial tree. */
static int copy_to_temp(struct fs_tree *t, int sfd, const char *sname, int dfd, char tmp[32])
{
	for (int tries = 0; tries < 5; tries++) {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			return fs_fail(t->e, errno, "getrandom");
		snprintf(tmp, 32, ".medic-move-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
			 rnd[5]);
		if (fs_tree_copy(t, sfd, sname, dfd, tmp) == 0)
			return 0;
		if (t->created_top)
			remove_partial(t, dfd, tmp, tmp);
		if (t->created_top || strcmp(t->e->code, MEDIC_E_ALREADY_EXISTS) != 0)
			return -1;
	}
	return -1;
}

/* The copy path: copy under a temporary name, fsync, verify, rename to dst without replacing, fsync,
 * then remove the source. Until the rename, a failure removes the copy and leaves the source whole. */
static int copy_move(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname,
		     const char *src, const char *dst)
{
	char tmp[32];
	struct stat st;

	int rc = 0;

	if (fstatat(dfd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return fs_fail(t->e, EEXIST, "%s", dst);
	if (errno != ENOENT)
		return fs_fail(t->e, errno, "%s", dst);
	if (copy_to_temp(t, sfd, sname, dfd, tmp) < 0)
		return -1;
	if (fsync_dir(dfd) < 0)
		rc = fs_fail(t->e, errno, "fsync the directory of %s", dst);
	else if (fs_tree_verify(t, sfd, sname, dfd, tmp) < 0)
		rc = -1;
	else if (rename_noreplace(dfd, tmp, dfd, dname) < 0)
		rc = fs_fail(t->e, errno, "%s", dst);
	if (rc < 0) {
		remove_partial(t, dfd, tmp, dst);
		return -1;
	}
	if (fsync_dir(dfd) < 0)
		return fs_fail(t->e, errno, "fsync the directory of %s", dst);
	if (fs_tree_remove(t, sfd, sname) < 0) {
		char why[sizeof t->e->msg];
		snprintf(why, sizeof why, "%s", t->e->msg);
		fs_fail(t->e, 0, "copied %s to %s and verified it, but removing the source failed: %s", src, dst, why);
		t->e->code = MEDIC_E_SOURCE_NOT_REMOVED;
		return -1;
	}
	return fsync_dir(sfd) < 0 ? fs_fail(t->e, errno, "fsync the directory of %s", src) : 0;
}

static int move_across(const struct fs_root *r, int sfd, const char *sname, int dfd, const char *dname,
		       const char *src, const char *dst, struct fs_error *e)
{
	struct fs_tree t = { e, malloc(FS_TREE_BUF), malloc(FS_TREE_BUF), 0, geteuid() == 0 };
	int rc;

	if (!t.buf || !t.buf2)
		rc = fs_fail(e, ENOMEM, "move %s", src);
	else
		rc = copy_move(&t, sfd, sname, dfd, dname, src, dst);
	free(t.buf);
	free(t.buf2);
	if (rc < 0 && strcmp(e->code, MEDIC_E_SOURCE_NOT_REMOVED) != 0) {
		char why[sizeof e->msg];
		const char *code = e->code;
		snprintf(why, sizeof why, "%s", e->msg);
		fs_fail(e, 0, "move %s to %s (copy across file systems): %s", src, dst, why);
		e->code = code;
	}
	return rc;
}

int fs_move(const struct fs_root *r, const char *src, const char *dst, enum fs_move_how *how,
	    struct fs_error *e)
{
	const char *sname, *dname;
	struct stat st;
	int sfd, dfd = -1, rc = -1;

	if (!strcmp(src, "/") || !strcmp(dst, "/"))
		return invalid_move(e, "the root cannot move", src, dst);
	if (!strcmp(src, dst) || is_inside(dst, src))
		return invalid_move(e, "the destination is the source or inside it", src, dst);
	if ((sfd = fs_open_parent(r, src, &sname, e)) < 0 || (dfd = fs_open_parent(r, dst, &dname, e)) < 0)
		goto out;
	if (fstatat(sfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		fs_fail(e, errno, "move %s", src);
		goto out;
	}
	if (!r->force_copy && rename_noreplace(sfd, sname, dfd, dname) == 0) {
		*how = FS_MOVED_RENAME;
		rc = fsync_dir(dfd) == 0 && fsync_dir(sfd) == 0 ? 0 : fs_fail(e, errno, "fsync after moving %s", src);
	} else if (!r->force_copy && errno != EXDEV) {
		fs_fail(e, errno, "move %s to %s", src, dst);
	} else {
		*how = FS_MOVED_COPY;
		rc = move_across(r, sfd, sname, dfd, dname, src, dst, e);
	}
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}
