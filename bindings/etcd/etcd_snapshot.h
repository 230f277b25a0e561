#ifndef MEDIC_ETCD_SNAPSHOT_H
#define MEDIC_ETCD_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>

/* Receives an etcd snapshot stream and writes the database to a file in constant memory. Two streams carry the
 * same bytes: gRPC's Maintenance/Snapshot (protobuf SnapshotResponse messages in gRPC frames over HTTP/2,
 * bindings/etcd/etcd_snapshot_grpc.c) and the JSON gateway's /v3/maintenance/snapshot ({"result":{"blob":"<base64>"}}
 * objects, bindings/etcd/etcd_snapshot_json.c). The decoded bytes are the bolt database followed by a 32-byte SHA-256
 * of everything before it; the file keeps that trailer, exactly as `etcdctl snapshot save` writes it, so
 * `etcdctl snapshot restore` can verify it. The file is written as PATH.XXXXXX in the same directory (mode
 * 0600), fsynced, and renamed over PATH only when the trailer matches (bindings/etcd/etcd_snapshot.c). No Lua here. */

struct etcd_snapshot;

enum etcd_snapshot_stream {
	ETCD_SNAPSHOT_GATEWAY,     /* the JSON gateway's stream */
	ETCD_SNAPSHOT_GRPC         /* gRPC frames; headers and trailers through etcd_snapshot_header */
};

struct etcd_snapshot_result {
	uint64_t size;            /* bytes in the file, trailer included */
	char sha256[65];          /* hex of the trailer (= SHA-256 of the database bytes) */
	char version[32];         /* the storage version etcd 3.6 reports over gRPC, or "" */
};

/* Creates the temporary file next to path. NULL and errmsg on failure. */
struct etcd_snapshot *etcd_snapshot_open(const char *path, enum etcd_snapshot_stream kind, char *errmsg,
					 size_t errlen);
/* Feeds response body bytes as they arrive, in pieces of any size. Returns 0, or -1 with the reason in errmsg
 * (a malformed stream, an error from the server, a write error); then only abort is allowed. */
int etcd_snapshot_feed(struct etcd_snapshot *s, const char *data, size_t len);
/* Feeds one response header or trailer line (CRLF optional). gRPC needs content-type, grpc-status and
 * grpc-message; the gateway's stream ignores them. Returns 0 or -1 as feed. */
int etcd_snapshot_header(struct etcd_snapshot *s, const char *line, size_t len);
/* Non-zero once the server has answered in the stream's protocol (gRPC: an application/grpc response or a
 * grpc-status; the gateway: any body byte). Zero means nothing the server sent was taken for the snapshot. */
int etcd_snapshot_answered(const struct etcd_snapshot *s);
/* Checks the stream ended cleanly (gRPC: grpc-status 0) and the trailer matches, fsyncs, renames into place,
 * fsyncs the directory. Returns 0 and fills res, or -1 and errmsg (the temporary file is removed). Frees s. */
int etcd_snapshot_finish(struct etcd_snapshot *s, struct etcd_snapshot_result *res, char *errmsg, size_t errlen);
/* Removes the temporary file and frees s (s may be NULL). */
void etcd_snapshot_abort(struct etcd_snapshot *s);
/* The reason the last feed failed ("" if none). */
const char *etcd_snapshot_error(const struct etcd_snapshot *s);

/* Checks a snapshot file on disk (bindings/etcd/etcd_snapshot_check.c): bbolt's magic, at least one page, and
 * the 32-byte trailer equal to the SHA-256 of everything before it. Returns 0 and fills res->size and
 * res->sha256, or -1 and errmsg ("PATH: why"). Constant memory. */
int etcd_snapshot_check(const char *path, struct etcd_snapshot_result *res, char *errmsg, size_t errlen);

#endif
