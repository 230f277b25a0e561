#ifndef MEDIC_ETCD_SNAPSHOT_INTERNAL_H
#define MEDIC_ETCD_SNAPSHOT_INTERNAL_H
#include <stddef.h>
#include "etcd/etcd_snapshot.h"

/* Between the snapshot file writer (etcd_snapshot.c) and its two stream decoders (etcd_snapshot_json.c,
 * etcd_snapshot_grpc.c). A decoder turns the wire format into database bytes and hands them to
 * snapshot_write; its state is state_size bytes, zeroed, owned by the writer. */

struct snapshot_decoder {
	size_t state_size;
	int (*feed)(struct etcd_snapshot *s, void *state, const unsigned char *data, size_t len);
	int (*header)(struct etcd_snapshot *s, void *state, const char *line, size_t len);   /* may be NULL */
	int (*answered)(const void *state);
	/* The body ended: 0 if the stream is complete, else snapshot_fail's -1. Fills res->version if known. */
	int (*end)(struct etcd_snapshot *s, void *state, struct etcd_snapshot_result *res);
};

extern const struct snapshot_decoder snapshot_json_decoder, snapshot_grpc_decoder;

/* Appends database bytes (trailer included) to the file. 0, or -1 after snapshot_fail. */
int snapshot_write(struct etcd_snapshot *s, const unsigned char *data, size_t n);
/* Records the first failure's reason; returns -1. */
int snapshot_fail(struct etcd_snapshot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
