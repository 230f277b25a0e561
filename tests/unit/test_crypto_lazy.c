/* libcrypto loaded on first use (bindings/base/crypto_lazy.c, bindings/base/lazylib.c): nothing is mapped before the
 * first call (this binary does not link libcrypto: `ldd build/tests/test_crypto_lazy`), SHA-256, SHA-1 and
 * base64 through the forwarders give the known answers, and with an unloadable libcrypto.so.3 each caller
 * (snapshot, WebSocket handshake) returns the clear error instead of crashing. The tests run in order in one
 * process; the unloadable case runs in a child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/crypto_lazy.h"
#include "etcd/etcd_snapshot.h"
#include "k8s/websocket.h"
#include "unloadable.h"

#define ERROR_PREFIX "libcrypto.so.3 could not be loaded: "
#define WS_ERROR "websocket: " ERROR_PREFIX

static char dir[] = "/tmp/medic-crypto-lazy-XXXXXX";
static char bogus[160], snap[160];

static int make_dir(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(bogus, sizeof bogus, "%s/libcrypto.so.3", dir);
	snprintf(snap, sizeof snap, "%s/db.snap", dir);
	return 0;
}

static int remove_dir(void **state)
{
	unlink(bogus);
	return rmdir(dir);
}

/* Whether libcrypto.so.3 is mapped into this process, without loading it. */
static int libcrypto_mapped(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

static void hex(const unsigned char *md, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void nothing_loaded_before_use(void **state)
{
	assert_false(medic_crypto_loaded());
	assert_false(libcrypto_mapped());
	EVP_MD_CTX_free(NULL); /* releasing nothing must not load anything */
	assert_false(medic_crypto_loaded());
	assert_false(libcrypto_mapped());
	assert_null(medic_crypto_error());
}

/* The forwarders are not exported: libssl (loaded by libcurl) always binds to libcrypto's own functions. */
static void forwarders_not_exported(void **state)
{
	assert_null(dlsym(RTLD_DEFAULT, "EVP_DigestUpdate"));
	assert_null(dlsym(RTLD_DEFAULT, "EVP_EncodeBlock"));
}

static void sha256_through_the_forwarders(void **state)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char out[65];

	assert_non_null(ctx);
	assert_true(medic_crypto_loaded());
	assert_true(libcrypto_mapped());
	assert_null(medic_crypto_error());
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, "a", 1), 1); /* in two pieces */
	assert_int_equal(EVP_DigestUpdate(ctx, "bc", 2), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &n), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(n, 32);
	hex(md, n, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"); /* FIPS 180-2 */
}

static void sha1_and_base64(void **state)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	unsigned char b64[16];
	char out[41];

	assert_ptr_equal(SHA1((const unsigned char *)"abc", 3, md), md);
	hex(md, sizeof md, out);
	assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(EVP_EncodeBlock(b64, (const unsigned char *)"foobar", 6), 8); /* RFC 4648 section 10 */
	assert_string_equal((char *)b64, "Zm9vYmFy");
	assert_int_equal(EVP_EncodeBlock(b64, (const unsigned char *)"fo", 2), 4);
	assert_string_equal((char *)b64, "Zm8=");
}

/* The WebSocket transport of this test: records what the client sends, never answers. */
static enum http_error record_send(void *ud, const void *buf, size_t len, char *err, size_t errlen)
{
	*(size_t *)ud += len;
	return HTTP_OK;
}

static enum http_error no_answer(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err,
				 size_t errlen)
{
	*got = 0;
	return HTTP_OK;
}

/* Run in a child whose LD_LIBRARY_PATH names a directory with an empty libcrypto.so.3. */
static int unloadable_child(void)
{
	char err[256] = "";
	size_t sent = 0;
	struct ws_conn c;
	struct ws_handshake hs = {.host = "api:6443", .path = "/", .protocols = "v5.channel.k8s.io", .timeout_ms = 100};
	unsigned char b64[8] = "x";
	const char *why;

	if (etcd_snapshot_open(snap, ETCD_SNAPSHOT_GATEWAY, err, sizeof err) != NULL)
		return 10;
	why = medic_crypto_error();
	if (!why || strncmp(why, ERROR_PREFIX, strlen(ERROR_PREFIX)) != 0 || strcmp(err, why) != 0)
		return 11;
	if (access(snap, F_OK) == 0 || medic_crypto_loaded())
		return 12;
	ws_init(&c, (struct ws_io){&sent, record_send, no_answer}, 0);
	if (ws_handshake(&c, &hs) != HTTP_ERR_OTHER || strncmp(c.err, WS_ERROR, sizeof WS_ERROR - 1) != 0 || sent != 0)
		return 13;
	ws_free(&c);
	if (EVP_MD_CTX_new() != NULL || EVP_sha256() != NULL || SHA1((const unsigned char *)"x", 1, b64) != NULL ||
	    EVP_EncodeBlock(b64, (const unsigned char *)"x", 1) != 0 || b64[0] != '\0')
		return 14;
	EVP_MD_CTX_free(NULL);
	return 0;
}

static void unloadable_library_is_a_clear_error(void **state)
{
	assert_child_passes_with_broken_library(dir, bogus, "test_crypto_lazy");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_loaded_before_use),
		cmocka_unit_test(forwarders_not_exported),
		cmocka_unit_test(sha256_through_the_forwarders),
		cmocka_unit_test(forwarders_not_exported),
		cmocka_unit_test(sha1_and_base64),
		cmocka_unit_test(unloadable_library_is_a_clear_error),
	};

	if (argc == 2 && strcmp(argv[1], "--unloadable") == 0)
		return unloadable_child();
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
