/* fs_move: rename without replacing, or across file systems copy, verify, then remove the source. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fsmove.h"
#include "fstree.h"
#include "log.h"

static int invalid_move(struct fs_error *e, const char *why, const char *src, const char *dst)
{
	fs_fail(e, 0, "move %s to %s: %s", src, dst, why);
	e->code = "Invalid";
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

/* The copy path. On failure before the verified copy is complete, the partial copy is removed (only if
 * this call created it) and the source is untouched. */
static int copy_move(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname,
		     const char *src, const char *dst)
{
	struct fs_error cleanup = { NULL, "" };

	if (fs_tree_copy(t, sfd, sname, dfd, dname) == 0 && fsync_dir(dfd) == 0 &&
	    fs_tree_verify(t, sfd, sname, dfd, dname) == 0) {
		if (fs_tree_remove(t, sfd, sname) < 0) {
			char why[sizeof t->e->msg];
			snprintf(why, sizeof why, "%s", t->e->msg);
			fs_fail(t->e, 0, "copied %s to %s and verified it, but removing the source failed: %s",
				src, dst, why);
			t->e->code = "SourceNotRemoved";
			return -1;
		}
		return fsync_dir(sfd) < 0 ? fs_fail(t->e, errno, "fsync the directory of %s", src) : 0;
	}
	if (t->created_top) {
		struct fs_error *keep = t->e;
		t->e = &cleanup;
		if (fs_tree_remove(t, dfd, dname) < 0)
			medic_log(MEDIC_LOG_ERROR, "node", "removing the partial copy %s failed: %s", dst, cleanup.msg);
		t->e = keep;
	}
	return -1;
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
	if (rc < 0 && strcmp(e->code, "SourceNotRemoved") != 0) {
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
