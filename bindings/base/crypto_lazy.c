/* libcrypto, loaded on first use: see crypto_lazy.h. The loading is bindings/base/lazylib.c. The forwarders have
 * hidden visibility, so libssl and libcurl (which load the same libcrypto.so.3 when a transfer starts: one
 * copy, shared by soname) always call libcrypto's own functions, never these. */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "base/crypto_lazy.h"
#include "base/lazylib.h"

#define LIBCRYPTO "libcrypto.so.3"
#define FORWARDER __attribute__((visibility("hidden")))
#define REAL LAZYLIB_REAL

#define CRYPTO_FUNCTIONS(X)                                                                                  \
	X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_sha256) X(EVP_DigestInit_ex) X(EVP_DigestUpdate)           \
	X(EVP_DigestFinal_ex) X(EVP_EncodeBlock) X(SHA1)

LAZYLIB_TABLE(CRYPTO_FUNCTIONS);

/* RTLD_LAZY, as linking -lcrypto bound it (libcrypto is built with -z now: bound in full either way). */
static struct lazylib lib = LAZYLIB_INIT(LIBCRYPTO, RTLD_LAZY);

static void load(void)
{
	lib.loaded = lazylib_open(&lib);
}

/* Loads libcrypto if this is the first call; true if it is usable. */
static bool ready(void)
{
	return lazylib_ready(&lib, load);
}

bool medic_crypto_load(void)
{
	return ready();
}

bool medic_crypto_loaded(void)
{
	return lib.loaded;
}

const char *medic_crypto_error(void)
{
	return lazylib_error(&lib);
}

FORWARDER EVP_MD_CTX *EVP_MD_CTX_new(void)
{
	return ready() ? REAL(EVP_MD_CTX_new)() : NULL;
}

/* Never loads: without libcrypto there is no context to free. */
FORWARDER void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
	if (lib.loaded)
		REAL(EVP_MD_CTX_free)(ctx);
}

FORWARDER const EVP_MD *EVP_sha256(void)
{
	return ready() ? REAL(EVP_sha256)() : NULL;
}

FORWARDER int EVP_DigestInit_ex(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl)
{
	return ready() ? REAL(EVP_DigestInit_ex)(ctx, type, impl) : 0;
}

FORWARDER int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
	return ready() ? REAL(EVP_DigestUpdate)(ctx, d, cnt) : 0;
}

FORWARDER int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s)
{
	return ready() ? REAL(EVP_DigestFinal_ex)(ctx, md, s) : 0;
}

/* Without libcrypto: an empty string, length 0 (a real encoding of n > 0 bytes is never empty). */
FORWARDER int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n)
{
	if (ready())
		return REAL(EVP_EncodeBlock)(t, f, n);
	*t = '\0';
	return 0;
}

FORWARDER unsigned char *SHA1(const unsigned char *d, size_t n, unsigned char *md)
{
	return ready() ? REAL(SHA1)(d, n, md) : NULL;
}
