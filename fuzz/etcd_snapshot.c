/* libFuzzer target: the etcd snapshot stream decoders in front of the file writer, fed in pieces whose size
 * the first byte chooses. The second byte: bit 0 finish (else abort), bit 1 the gRPC stream (SnapshotResponse
 * messages in gRPC frames, after an application/grpc content-type; bits 2-3 the grpc-status trailer), else the
 * JSON gateway's {"result":{"blob":"<base64>"}} objects. Writes into a private temporary directory removed
 * at exit.
 * Build and run with `make fuzz`; seeds in fuzz/corpus/etcd_snapshot/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "etcd/etcd_snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct etcd_snapshot_result res;

	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/medic-fuzz-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/snap.db", dir);
		atexit(cleanup);
	}
	if (size < 2)
		return 0;
	size_t chunk = (size_t)data[0] + 1;
	int finish = data[1] & 1, grpc = data[1] & 2;
	char status[32];
	snprintf(status, sizeof status, "grpc-status: %d\r\n", data[1] >> 2 & 3);
	data += 2;
	size -= 2;
	struct etcd_snapshot *s = etcd_snapshot_open(path, grpc ? ETCD_SNAPSHOT_GRPC : ETCD_SNAPSHOT_GATEWAY, err,
						     sizeof err);
	if (!s)
		abort();
	if (grpc && etcd_snapshot_header(s, "content-type: application/grpc\r\n", 32) != 0)
		abort();
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (etcd_snapshot_feed(s, (const char *)data + off, n) != 0) {
			if (!etcd_snapshot_error(s) || !etcd_snapshot_error(s)[0])
				abort(); /* a failure must say why */
			etcd_snapshot_abort(s);
			return 0;
		}
	}
	if (!finish) {
		etcd_snapshot_abort(s);
		return 0;
	}
	if (grpc && etcd_snapshot_header(s, status, strlen(status)) != 0)
		abort();   /* a well-formed status is never refused */
	if (etcd_snapshot_finish(s, &res, err, sizeof err) == 0) {
		if (strlen(res.sha256) != 64)
			abort();
		unlink(path);
	}
	return 0;
}
