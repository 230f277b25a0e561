#ifndef MEDIC_ETCD_BOLTREV_H
#define MEDIC_ETCD_BOLTREV_H
#include <stddef.h>
#include <stdint.h>

/* Reads the store revision from an etcd backend file (bbolt) the way `etcdctl snapshot status` does: the
 * largest main revision among the keys of the "key" bucket (keys are 8-byte big-endian main revision, '_',
 * 8-byte sub revision, optionally 't' for a tombstone). Only the pages on the path to the last key are
 * read (pread), so memory stays small whatever the file size. A 32-byte SHA-256 trailer after the database
 * (as a snapshot file has) is ignored. Little-endian hosts only, like the files etcd writes on them.
 * Returns 0 and *revision (0 for an empty store), or -1 and errmsg. No Lua in this interface. */
int etcd_bolt_revision(const char *path, int64_t *revision, char *errmsg, size_t errlen);

#endif
