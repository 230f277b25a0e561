/* For the tests of the lazily opened libraries (test_curl_lazy.c, test_crypto_lazy.c): runs this test binary
 * again as `NAME --unloadable` with LD_LIBRARY_PATH=DIR, where the caller has put an empty file named after
 * the library, so that the child's dlopen finds a broken library first. The child makes its own checks of
 * the error its callers see and exits 0 when they pass. Header-only: every unit test is a single .c file. */
#ifndef MEDIC_TEST_UNLOADABLE_H
#define MEDIC_TEST_UNLOADABLE_H
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void assert_child_passes_with_broken_library(const char *dir, const char *bogus_path, const char *name)
{
	FILE *f;
	pid_t pid;
	int status;

	assert_non_null(f = fopen(bogus_path, "w"));
	fclose(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LD_LIBRARY_PATH", dir, 1);
		execl("/proc/self/exe", name, "--unloadable", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#endif
