#ifndef MEDIC_NODE_FSDIGEST_H
#define MEDIC_NODE_FSDIGEST_H
#include <stddef.h>
#include <stdint.h>

/* The SHA-256 of a whole file, as `sha256sum` prints it (64 lower-case hex digits and a NUL), and its size.
 * Read once, front to back, through a 64 KiB buffer: constant memory for any size. 0, or -1 with the reason
 * in errmsg (the file cannot be read, or libcrypto cannot be loaded). */
int fs_sha256_file(const char *path, char hex[65], uint64_t *size, char *errmsg, size_t errlen);

#endif
