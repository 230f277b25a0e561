#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/crypto_lazy.h"
#include "etcd/etcd_snapshot.h"

/* Checks a snapshot file that is already on disk (a --backup the operator gave, or one copied out of a pod):
 * the bolt database and the 32-byte SHA-256 trailer of everything before it, as `etcdctl snapshot save`
 * writes it, behind bbolt's magic number. Read once, front to back, through a 64 KiB buffer. */

#define TRAILER 32
#define MIN_DATABASE 4096   /* one bolt page */
static const unsigned char BOLT_MAGIC[4] = {0xed, 0xda, 0x0c, 0xed};   /* 0xED0CDAED at offset 16 of page 0 */

static int check_fail(char *errmsg, size_t errlen, const char *path, const char *why)
{
	snprintf(errmsg, errlen, "%.300s: %s", path, why);
	return -1;
}

/* Hashes the first len bytes of fd into md; -1 with errno on a read error (EIO for a short file). */
static int hash_prefix(int fd, off_t len, EVP_MD_CTX *sha, unsigned char md[TRAILER])
{
	unsigned char buf[65536];
	unsigned int mdlen = 0;

	for (off_t left = len; left > 0;) {
		ssize_t n = read(fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? EIO : errno;
			return -1;
		}
		EVP_DigestUpdate(sha, buf, (size_t)n);
		left -= n;
	}
	if (EVP_DigestFinal_ex(sha, md, &mdlen) && mdlen == TRAILER)
		return 0;
	errno = EIO;
	return -1;
}

/* The last TRAILER bytes; -1 with errno (EIO for a short read). */
static int read_trailer(int fd, unsigned char trailer[TRAILER])
{
	ssize_t n;
	while ((n = read(fd, trailer, TRAILER)) < 0 && errno == EINTR)
		;
	if (n >= 0 && n != TRAILER)
		errno = EIO;
	return n == TRAILER ? 0 : -1;
}

int etcd_snapshot_check(const char *path, struct etcd_snapshot_result *res, char *errmsg, size_t errlen)
{
	unsigned char md[TRAILER], trailer[TRAILER];
	struct stat st;
	EVP_MD_CTX *sha;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	memset(res, 0, sizeof *res);
	if (fd < 0 || fstat(fd, &st) != 0) {
		r = check_fail(errmsg, errlen, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < MIN_DATABASE + TRAILER) {
		r = check_fail(errmsg, errlen, path, "too small to be an etcd snapshot (a database and its SHA-256)");
		goto out;
	}
	unsigned char head[20];
	if (pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head || memcmp(head + 16, BOLT_MAGIC, 4) != 0) {
		r = check_fail(errmsg, errlen, path, "not an etcd snapshot (no bbolt magic)");
		goto out;
	}
	if ((sha = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(sha);
		r = check_fail(errmsg, errlen, path, medic_crypto_error() ? medic_crypto_error() : "no SHA-256");
		goto out;
	}
	r = hash_prefix(fd, st.st_size - TRAILER, sha, md) == 0 && read_trailer(fd, trailer) == 0 ? 0 : -1;
	EVP_MD_CTX_free(sha);
	if (r != 0)
		r = check_fail(errmsg, errlen, path, strerror(errno));
	else if (memcmp(md, trailer, TRAILER) != 0)
		r = check_fail(errmsg, errlen, path, "SHA-256 mismatch: the file is not a whole etcd snapshot");
	if (r == 0) {
		for (int i = 0; i < TRAILER; i++)
			snprintf(res->sha256 + 2 * i, 3, "%02x", trailer[i]);
		res->size = (uint64_t)st.st_size;
	}
out:
	if (fd >= 0)
		close(fd);
	return r;
}
