/* libFuzzer target: reading the store revision from a bolt file (bindings/etcd/etcd_boltrev.c) that may be
 * anything (a snapshot from a server is untrusted): the input is written to a temporary file and read back.
 * Build and run with `make fuzz`; seeds in fuzz/corpus/etcd_boltrev/. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "etcd/etcd_boltrev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	int64_t rev;

	if (!path[0]) {
		snprintf(path, sizeof path, "/tmp/medic-fuzz-bolt-XXXXXX");
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(cleanup);
	}
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (etcd_bolt_revision(path, &rev, err, sizeof err) == 0 && rev < 0)
		abort();
	return 0;
}
