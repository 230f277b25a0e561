#ifndef MEDIC_ETCD_SNAPSHOT_H
#define MEDIC_ETCD_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>

/* Receives the JSON gateway's snapshot stream (/v3/maintenance/snapshot) and writes the database to a file
 * in constant memory. The stream is a sequence of JSON objects {"result":{"blob":"<base64>", ...}} (3.5 adds
 * "remaining_bytes"), or an {"error":{...}} object mid-way. The decoded bytes are the bolt database followed
 * by a 32-byte SHA-256 of everything before it; the file keeps that trailer, exactly as `etcdctl snapshot
 * save` writes it, so `etcdctl snapshot restore` can verify it. The file is written as PATH.XXXXXX in the
 * same directory (mode 0600), fsynced, and renamed over PATH only when the trailer matches. No Lua here. */

struct etcd_snapshot;

struct etcd_snapshot_result {
	uint64_t size;            /* bytes in the file, trailer included */
	char sha256[65];          /* hex of the trailer (= SHA-256 of the database bytes) */
};

/* Creates the temporary file next to path. NULL and errmsg on failure. */
struct etcd_snapshot *etcd_snapshot_open(const char *path, char *errmsg, size_t errlen);
/* Feeds stream bytes as they arrive, in pieces of any size. Returns 0, or -1 with the reason in errmsg
 * (a malformed stream, an error object from the server, a write error); then only abort is allowed. */
int etcd_snapshot_feed(struct etcd_snapshot *s, const char *data, size_t len);
/* Checks the stream ended cleanly and the trailer matches, fsyncs, renames into place, fsyncs the
 * directory. Returns 0 and fills res, or -1 and errmsg (the temporary file is removed). Frees s. */
int etcd_snapshot_finish(struct etcd_snapshot *s, struct etcd_snapshot_result *res, char *errmsg, size_t errlen);
/* Removes the temporary file and frees s (s may be NULL). */
void etcd_snapshot_abort(struct etcd_snapshot *s);
/* The reason the last feed failed. */
const char *etcd_snapshot_error(const struct etcd_snapshot *s);

#endif
