/* The local node backend's file operations (bindings/node/fsroot.c, fsmove.c, fstree.c), in temporary dirs. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>
#include "node/fsmove.h"
#include "node/fsroot.h"
#include "base/interrupt.h"

struct fixture {
	char dir[64];		/* the root of the handle */
	struct fs_root root;
	struct fs_error e;
};

static void at(const struct fixture *f, const char *rel, char *out)
{
	snprintf(out, FS_PATH_MAX, "%s%s", f->dir, rel);
}

static void put(const struct fixture *f, const char *rel, const char *content, mode_t mode)
{
	char p[FS_PATH_MAX];
	at(f, rel, p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	fchmod(fd, mode);
	close(fd);
}

static void mk(const struct fixture *f, const char *rel)
{
	char p[FS_PATH_MAX];
	at(f, rel, p);
	assert_int_equal(mkdir(p, 0755), 0);
}

static int present(const struct fixture *f, const char *rel)
{
	char p[FS_PATH_MAX];
	struct stat st;
	at(f, rel, p);
	return lstat(p, &st) == 0;
}

/* No ".medic-move-*" temporary copy is left in rel. */
static void no_temp_left(const struct fixture *f, const char *rel)
{
	struct fs_names n;
	struct fs_error e;
	assert_int_equal(fs_list(&f->root, rel, &n, &e), 0);
	for (size_t i = 0; i < n.n; i++)
		assert_null(strstr(n.v[i], ".medic-move-"));
	fs_names_free(&n);
}

static char *slurp(const struct fixture *f, const char *rel)
{
	static char buf[4096];
	char p[FS_PATH_MAX];
	at(f, rel, p);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	strcpy(f->dir, "/tmp/medic-node-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(fs_root_open(&f->root, f->dir, &f->e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	fs_root_close(&f->root);
	snprintf(cmd, sizeof cmd, "umount %s/mnt 2>/dev/null; rm -rf %s", f->dir, f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	medic_interrupt_set(0);
	return 0;
}

static void clean_ok(const char *in, const char *want)
{
	char out[FS_PATH_MAX];
	struct fs_error e;
	assert_int_equal(fs_path_clean(in, strlen(in), out, &e), 0);
	assert_string_equal(out, want);
}

static void clean_bad(const char *in, size_t len)
{
	char out[FS_PATH_MAX];
	struct fs_error e;
	assert_int_equal(fs_path_clean(in, len, out, &e), -1);
	assert_string_equal(e.code, "InvalidArgument");
}

static void test_path_clean(void **state)
{
	static char longp[5000];
	clean_ok("/", "/");
	clean_ok("//a//b/", "/a/b");
	clean_ok("/a/./b/../c", "/a/c");
	clean_ok("/a/..", "/");
	clean_bad("", 0);
	clean_bad("a/b", 3);
	clean_bad("/..", 3);
	clean_bad("/a/../../etc", 12);
	clean_bad("/a\0b", 4);
	memset(longp, 'a', sizeof longp - 1);
	longp[0] = '/';
	clean_bad(longp, strlen(longp));
	memset(longp + 1, 'b', 300);
	longp[301] = '\0';
	clean_bad(longp, 301);
}

static void test_subdomain(void **state)
{
	char big[300];
	assert_true(fs_valid_subdomain("master-0", 8));
	assert_true(fs_valid_subdomain("ip-10-0-1-2.ec2.internal", 24));
	assert_false(fs_valid_subdomain("", 0));
	assert_false(fs_valid_subdomain("Master", 6));
	assert_false(fs_valid_subdomain("-a", 2));
	assert_false(fs_valid_subdomain("a-", 2));
	assert_false(fs_valid_subdomain("a..b", 4));
	assert_false(fs_valid_subdomain("a.", 2));
	assert_false(fs_valid_subdomain("a/b", 3));
	assert_false(fs_valid_subdomain("a\0b", 3));
	memset(big, 'a', sizeof big);
	assert_false(fs_valid_subdomain(big, 64));
	for (int i = 63; i < 254; i += 64)
		big[i] = '.';
	assert_true(fs_valid_subdomain(big, 253));
	assert_false(fs_valid_subdomain(big, 254));
}

static void test_stat_list_mkdir_read(void **state)
{
	struct fixture *f = *state;
	struct fs_names n;
	struct stat st;
	char *buf;
	size_t len;

	put(f, "/b", "bee", 0640);
	put(f, "/a", "ay", 0600);
	mk(f, "/d");
	assert_int_equal(fs_list(&f->root, "/", &n, &f->e), 0);
	assert_int_equal(n.n, 3);
	assert_string_equal(n.v[0], "a");
	assert_string_equal(n.v[2], "d");
	fs_names_free(&n);
	assert_int_equal(fs_lstat(&f->root, "/b", &st, &f->e), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(fs_lstat(&f->root, "/nope", &st, &f->e), -1);
	assert_string_equal(f->e.code, "NotFound");
	assert_int_equal(fs_mkdir(&f->root, "/d", 0, 0700, &f->e), -1);
	assert_string_equal(f->e.code, "AlreadyExists");
	assert_int_equal(fs_mkdir(&f->root, "/d/x/y", 1, 0700, &f->e), 0);
	assert_int_equal(fs_lstat(&f->root, "/d/x/y", &st, &f->e), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(fs_mkdir(&f->root, "/b/x", 1, 0700, &f->e), -1);
	assert_string_equal(f->e.code, "NotADirectory");
	assert_int_equal(fs_read(&f->root, "/b", 3, &buf, &len, &f->e), 0);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "bee");
	free(buf);
	assert_int_equal(fs_read(&f->root, "/b", 2, &buf, &len, &f->e), -1);
	assert_string_equal(f->e.code, "TooLarge");
	assert_int_equal(fs_read(&f->root, "/d", 100, &buf, &len, &f->e), -1);
	assert_string_equal(f->e.code, "IsADirectory");
}

/* A symlink pointing out of the root resolves inside it (RESOLVE_IN_ROOT), as chroot would. */
static void test_symlink_stays_in_root(void **state)
{
	struct fixture *f = *state;
	char p[FS_PATH_MAX], *buf;
	size_t len;
	struct stat st;

	at(f, "/esc", p);
	assert_int_equal(symlink("/etc", p), 0);
	assert_int_equal(fs_read(&f->root, "/esc/hostname", 4096, &buf, &len, &f->e), -1);
	assert_string_equal(f->e.code, "NotFound");
	assert_int_equal(fs_lstat(&f->root, "/esc", &st, &f->e), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void test_rename_never_overwrites(void **state)
{
	struct fixture *f = *state;
	enum fs_move_how how = 0;

	put(f, "/src", "one", 0644);
	put(f, "/dst", "two", 0644);
	mk(f, "/dir");
	assert_int_equal(fs_move(&f->root, "/src", "/dst", &how, &f->e), -1);
	assert_string_equal(f->e.code, "AlreadyExists");
	assert_string_equal(slurp(f, "/dst"), "two");
	assert_int_equal(fs_move(&f->root, "/src", "/dir", &how, &f->e), -1);
	assert_string_equal(f->e.code, "AlreadyExists");
	assert_int_equal(fs_move(&f->root, "/dir", "/dir/sub", &how, &f->e), -1);
	assert_string_equal(f->e.code, "InvalidArgument");
	assert_int_equal(fs_move(&f->root, "/missing", "/x", &how, &f->e), -1);
	assert_string_equal(f->e.code, "NotFound");
	assert_int_equal(fs_move(&f->root, "/src", "/dir/src", &how, &f->e), 0);
	assert_int_equal(how, FS_MOVED_RENAME);
	assert_false(present(f, "/src"));
	assert_string_equal(slurp(f, "/dir/src"), "one");
}

/* The tree every copy test moves: files with modes and times, a nested dir, symlinks, a fifo, an xattr. */
static void make_tree(struct fixture *f)
{
	char p[FS_PATH_MAX], q[FS_PATH_MAX];
	struct timespec ts[2] = { { 1000000000, 0 }, { 1234567890, 123456789 } };

	mk(f, "/t");
	mk(f, "/t/member");
	put(f, "/t/member/wal", "write-ahead log", 0600);
	put(f, "/t/manifest.yaml", "kind: Pod\n", 0644);
	at(f, "/t/manifest.yaml", p);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	setxattr(p, "user.medic", "kept", 4, 0);	/* where the file system has user xattrs */
	at(f, "/t/link", p);
	assert_int_equal(symlink("member/wal", p), 0);
	at(f, "/t/dangling", p);
	assert_int_equal(symlink("/nowhere", p), 0);
	at(f, "/t/fifo", q);
	assert_int_equal(mkfifo(q, 0620), 0);
	assert_int_equal(chmod(q, 0620), 0);
	at(f, "/t/member", p);
	assert_int_equal(chmod(p, 0700), 0);
}

static void check_tree(struct fixture *f, const char *top)
{
	char p[FS_PATH_MAX], rel[256], v[16];
	struct stat st;

	snprintf(rel, sizeof rel, "%s/member/wal", top);
	assert_string_equal(slurp(f, rel), "write-ahead log");
	at(f, rel, p);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(rel, sizeof rel, "%s/manifest.yaml", top);
	at(f, rel, p);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	if (getxattr(p, "user.medic", v, sizeof v) >= 0)
		assert_memory_equal(v, "kept", 4);
	snprintf(rel, sizeof rel, "%s/link", top);
	at(f, rel, p);
	ssize_t n = readlink(p, v, sizeof v);
	assert_int_equal(n, 10);
	assert_memory_equal(v, "member/wal", 10);
	snprintf(rel, sizeof rel, "%s/fifo", top);
	at(f, rel, p);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	snprintf(rel, sizeof rel, "%s/member", top);
	at(f, rel, p);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_forced_copy_moves_tree(void **state)
{
	struct fixture *f = *state;
	enum fs_move_how how = 0;

	make_tree(f);
	mk(f, "/backup");
	f->root.force_copy = 1;
	assert_int_equal(fs_move(&f->root, "/t", "/backup/t", &how, &f->e), 0);
	assert_int_equal(how, FS_MOVED_COPY);
	assert_false(present(f, "/t"));
	no_temp_left(f, "/backup");
	check_tree(f, "/backup/t");
	/* a single file and a single symlink copy too */
	assert_int_equal(fs_move(&f->root, "/backup/t/link", "/l2", &how, &f->e), 0);
	assert_int_equal(fs_move(&f->root, "/backup/t/member/wal", "/wal", &how, &f->e), 0);
	assert_string_equal(slurp(f, "/wal"), "write-ahead log");
	assert_false(present(f, "/backup/t/member/wal"));
}

static void test_copy_never_overwrites(void **state)
{
	struct fixture *f = *state;
	enum fs_move_how how = 0;

	make_tree(f);
	mk(f, "/dst");
	put(f, "/dst/keep", "mine", 0644);
	f->root.force_copy = 1;
	assert_int_equal(fs_move(&f->root, "/t", "/dst", &how, &f->e), -1);
	assert_string_equal(f->e.code, "AlreadyExists");
	assert_string_equal(slurp(f, "/dst/keep"), "mine");
	check_tree(f, "/t");
}

static void add_socket(struct fixture *f, const char *rel)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	at(f, rel, a.sun_path);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	close(s);
}

/* A copy that fails halfway (a socket cannot be copied; it sorts after files already copied) removes
 * the partial copy and leaves the source whole. */
static void test_copy_failure_halfway(void **state)
{
	struct fixture *f = *state;
	enum fs_move_how how = 0;

	make_tree(f);
	add_socket(f, "/t/member/zz.sock");
	f->root.force_copy = 1;
	assert_int_equal(fs_move(&f->root, "/t", "/t2", &how, &f->e), -1);
	assert_string_equal(f->e.code, "Unsupported");
	assert_non_null(strstr(f->e.msg, "zz.sock"));
	assert_false(present(f, "/t2"));
	no_temp_left(f, "/");
	check_tree(f, "/t");
	assert_true(present(f, "/t/member/zz.sock"));
}

/* An unreadable file stops the copy the same way. As root (who reads anything) the move runs in a child
 * that has dropped to nobody, on a tree nobody owns. */
static int move_fails_with(struct fixture *f, const char *code)
{
	enum fs_move_how how = 0;
	f->root.force_copy = 1;
	return fs_move(&f->root, "/t", "/t2", &how, &f->e) == -1 && strcmp(f->e.code, code) == 0;
}

static void test_copy_unreadable_file(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	int status = -1;

	make_tree(f);
	put(f, "/t/member/secret", "x", 0000);
	if (geteuid() != 0) {
		assert_true(move_fails_with(f, "Permission"));
	} else {
		snprintf(cmd, sizeof cmd, "chown -R 65534:65534 %s", f->dir);
		assert_int_equal(system(cmd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0
			      && move_fails_with(f, "Permission") ? 0 : 1);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_false(present(f, "/t2"));
	no_temp_left(f, "/");
	check_tree(f, "/t");
	assert_true(present(f, "/t/member/secret"));
}

static void test_copy_interrupted(void **state)
{
	struct fixture *f = *state;
	enum fs_move_how how = 0;

	make_tree(f);
	f->root.force_copy = 1;
	medic_interrupt_set(1);
	assert_int_equal(fs_move(&f->root, "/t", "/t2", &how, &f->e), -1);
	medic_interrupt_set(0);
	assert_string_equal(f->e.code, "Interrupted");
	assert_false(present(f, "/t2"));
	no_temp_left(f, "/");
	check_tree(f, "/t");
}

/* A real second file system: tmpfs in a private mount namespace (root only; skipped elsewhere). */
static void test_move_onto_tmpfs(void **state)
{
	struct fixture *f = *state;
	enum fs_move_how how = 0;
	char p[FS_PATH_MAX];

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		skip();
	mk(f, "/mnt");
	at(f, "/mnt", p);
	if (mount("tmpfs", p, "tmpfs", 0, "size=8m") < 0)
		skip();
	fs_root_close(&f->root);	/* an fd opened before unshare sees the old namespace's mounts */
	assert_int_equal(fs_root_open(&f->root, f->dir, &f->e), 0);
	make_tree(f);
	assert_int_equal(fs_move(&f->root, "/t", "/mnt/t", &how, &f->e), 0);
	assert_int_equal(how, FS_MOVED_COPY);
	assert_false(present(f, "/t"));
	check_tree(f, "/mnt/t");
	/* and back, with an existing destination refused */
	mk(f, "/t");
	assert_int_equal(fs_move(&f->root, "/mnt/t", "/t", &how, &f->e), -1);
	assert_string_equal(f->e.code, "AlreadyExists");
	assert_true(present(f, "/mnt/t/member/wal"));
	umount2(p, MNT_DETACH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_clean),
		cmocka_unit_test(test_subdomain),
		cmocka_unit_test_setup_teardown(test_stat_list_mkdir_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_stays_in_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_never_overwrites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced_copy_moves_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_never_overwrites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_failure_halfway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_unreadable_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_onto_tmpfs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
