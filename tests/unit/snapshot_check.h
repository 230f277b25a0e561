/* Shared by the snapshot writer's tests (test_etcd_snapshot.c: the gateway's stream; test_etcd_snapshot_grpc.c:
 * the gRPC stream): SHA-256 through the same libcrypto forwarders the writer uses (no -lcrypto in the tests),
 * the database both feed to the writer, and the check that a finished snapshot is exactly that database and its
 * trailer, mode 0600, with no temporary file left in its directory. Header-only: every unit test is one .c file. */
#ifndef MEDIC_TEST_SNAPSHOT_CHECK_H
#define MEDIC_TEST_SNAPSHOT_CHECK_H
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "etcd/etcd_snapshot.h"

static inline void sha256(const unsigned char *data, size_t len, unsigned char md[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	assert_non_null(ctx);
	assert_true(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, data, len) &&
		    EVP_DigestFinal_ex(ctx, md, &n));
	assert_int_equal(n, 32);
	EVP_MD_CTX_free(ctx);
}

/* A database of SIZE bytes at DB (a fixed pseudo-random pattern), followed by its 32-byte SHA-256 trailer,
 * as etcd's snapshot stream ends: DB must hold SIZE + 32 bytes. */
static inline void fill_database(unsigned char *db, size_t size)
{
	for (size_t i = 0; i < size; i++)
		db[i] = (unsigned char)(i * 2654435761u >> 13);
	sha256(db, size, db + size);
}

static inline int files_in(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* PATH (alone in DIR) holds exactly the SIZE bytes of FILE (database + 32-byte trailer), mode 0600, and RES
 * reports that size and the trailer as hex. */
static inline void assert_snapshot_saved(const char *path, const char *dir, const unsigned char *file, size_t size,
				  const struct etcd_snapshot_result *res)
{
	char hex[65];
	struct stat st;
	unsigned char *got = malloc(size);
	FILE *fp = fopen(path, "rb");

	assert_true(res->size == size);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", file[size - 32 + i]);
	assert_string_equal(res->sha256, hex);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, size);
	assert_non_null(got);
	assert_non_null(fp);
	assert_int_equal(fread(got, 1, size, fp), size);
	fclose(fp);
	assert_memory_equal(got, file, size);
	free(got);
	assert_int_equal(files_in(dir), 1);   /* no temporary left behind */
}

#endif
