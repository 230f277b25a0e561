#ifndef MEDIC_FSMOVE_H
#define MEDIC_FSMOVE_H
#include "node/fsroot.h"

/* The one mutation of the local node backend: a move that never overwrites (fsroot.h for paths and errors). */

enum fs_move_how { FS_MOVED_RENAME = 1, FS_MOVED_COPY = 2 };

/* Moves src to dst, never replacing dst: renameat2(RENAME_NOREPLACE), or across file systems a copy
 * under a hidden temporary name in dst's directory + fsync + verify + rename to dst (no replace) + remove
 * the source; a failure before that rename removes the copy and leaves the source. *how says which. */
int fs_move(const struct fs_root *r, const char *src, const char *dst, enum fs_move_how *how,
	    struct fs_error *e);

#endif
