#ifndef MEDIC_FSTREE_H
#define MEDIC_FSTREE_H
#include <stddef.h>
#include "node/fsroot.h"

/* Tree walks of a cross-file-system move (fsmove.c): copy, verify, remove. Entries are named by a
 * directory fd and a name in it; nothing follows a symlink. Each returns 0, or -1 with *t->e set. */
struct fs_tree {
	struct fs_error *e;
	char *buf, *buf2;	/* two FS_TREE_BUF scratch buffers for copying and comparing */
	int created_top;	/* the copy created the top destination entry (so a failure removes it) */
	int privileged;		/* euid 0: ownership must be kept; otherwise EPERM on chown is tolerated */
};

#define FS_TREE_BUF (256 * 1024)

int fs_tree_copy(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname);
int fs_tree_verify(struct fs_tree *t, int sfd, const char *sname, int dfd, const char *dname);
int fs_tree_remove(struct fs_tree *t, int dfd, const char *name);

#endif
