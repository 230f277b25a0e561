#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "base/crypto_lazy.h"
#include "node/fsdigest.h"

/* Hashes fd to its end into md; -1 with errno on a read error. */
static int hash_all(int fd, EVP_MD_CTX *sha, unsigned char md[32], uint64_t *size)
{
	unsigned char buf[65536];
	unsigned int mdlen = 0;
	ssize_t n;

	*size = 0;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		EVP_DigestUpdate(sha, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(sha, md, &mdlen) && mdlen == 32)
		return 0;
	errno = EIO;
	return -1;
}

int fs_sha256_file(const char *path, char hex[65], uint64_t *size, char *errmsg, size_t errlen)
{
	unsigned char md[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -1;
	EVP_MD_CTX *sha = NULL;

	if (fd < 0) {
		snprintf(errmsg, errlen, "%.300s: %s", path, strerror(errno));
		return -1;
	}
	if ((sha = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
		snprintf(errmsg, errlen, "%.300s: %s", path,
			 medic_crypto_error() ? medic_crypto_error() : "no SHA-256");
	else if (hash_all(fd, sha, md, size) != 0)
		snprintf(errmsg, errlen, "%.300s: %s", path, strerror(errno));
	else
		r = 0;
	for (int i = 0; r == 0 && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(sha);
	close(fd);
	return r;
}
