#ifndef MEDIC_FSROOT_H
#define MEDIC_FSROOT_H
#include <stddef.h>
#include <sys/stat.h>

/* File operations of the local node backend, confined to a root directory, with no Lua in the interface
 * (bindings/node/node.c wraps them; tests/unit/test_node_fs.c tests them alone).
 *
 * Paths given to these functions are "clean": made by fs_path_clean (absolute, normalised, no "..", no NUL).
 * They are resolved below the root with openat2(RESOLVE_IN_ROOT), so neither ".." nor a symlink inside
 * the tree leads out of it (kernels without openat2 fall back to plain openat, and then only the lexical
 * check holds). Every function returns 0 on success, or -1 with *e filled in. */

#define FS_PATH_MAX 4096	/* bytes of a clean path, including the NUL */
#define FS_NAME_MAX 255		/* bytes of one path component */
#define FS_LIST_MAX 100000	/* entries of one directory that list/copy accept */
#define FS_DEPTH_MAX 128	/* directory levels a copy, verify or remove descends */

struct fs_error {
	const char *code;	/* stable (docs/errors.md): NotFound AlreadyExists Permission NotADirectory
				 * IsADirectory InvalidArgument TooLarge NoSpace ReadOnly Busy Unsupported
				 * VerifyFailed SourceNotRemoved Interrupted IOError */
	char msg[512];
};

struct fs_root {
	int fd;			/* the root directory, O_PATH; -1 once closed */
	int force_copy;		/* tests: behave as if rename said EXDEV, so move copies */
};

struct fs_names {
	size_t n;
	char **v;		/* sorted, each malloc'd */
};

int fs_fail(struct fs_error *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *fs_code(int err);

/* Validates p (len bytes, may hold NUL) and writes its normal form to out: "/" or "/a/b". */
int fs_path_clean(const char *p, size_t len, char out[FS_PATH_MAX], struct fs_error *e);
/* 1 if s is a DNS-1123 subdomain (what Kubernetes accepts as a node name), else 0. */
int fs_valid_subdomain(const char *s, size_t len);

int fs_root_open(struct fs_root *r, const char *dir, struct fs_error *e);
void fs_root_close(struct fs_root *r);

/* An fd (O_RDONLY|O_DIRECTORY) of the directory holding clean path p, and *base its last component
 * ("" for the root itself). */
int fs_open_parent(const struct fs_root *r, const char *p, const char **base, struct fs_error *e);
/* Opens clean path p below the root with flags (symlinks followed, inside the root). */
int fs_open_at(const struct fs_root *r, const char *p, int flags);

int fs_lstat(const struct fs_root *r, const char *p, struct stat *st, struct fs_error *e);
int fs_list(const struct fs_root *r, const char *p, struct fs_names *out, struct fs_error *e);
int fs_mkdir(const struct fs_root *r, const char *p, int parents, int mode, struct fs_error *e);
/* Reads a regular file of at most max bytes into a malloc'd *buf (NUL-terminated; *len excludes it). */
int fs_read(const struct fs_root *r, const char *p, size_t max, char **buf, size_t *len, struct fs_error *e);
/* Names of the entries of an open directory (without "." and ".."), sorted. Takes no ownership of fd. */
int fs_names_of(int dirfd, struct fs_names *out, struct fs_error *e);
void fs_names_free(struct fs_names *n);

#endif
