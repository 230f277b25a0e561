#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include "base/lazylib.h"
#include "base/tls_material.h"

/* The functions used, from libssl and (through its dependencies) libcrypto; see tls_material.h. */
#define TLS_FUNCTIONS(X)                                                                                      \
	X(BIO_new_mem_buf) X(BIO_free) X(PEM_read_bio_X509) X(PEM_read_bio_PrivateKey) X(X509_free)          \
	X(EVP_PKEY_free) X(X509_STORE_new) X(X509_STORE_add_cert) X(X509_STORE_free)                         \
	X(ERR_clear_error) X(SSL_CTX_set1_cert_store) X(SSL_CTX_use_certificate) X(SSL_CTX_use_PrivateKey)   \
	X(SSL_CTX_ctrl)

LAZYLIB_TABLE(TLS_FUNCTIONS);
#define REAL LAZYLIB_REAL

/* RTLD_NOLOAD: only when libcurl has brought libssl in already. */
static struct lazylib lib = LAZYLIB_INIT("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);

#define MAX_CHAIN 16

struct tls_material {
	X509_STORE *store;        /* the CAs, or NULL */
	X509 *cert;               /* the client certificate, or NULL */
	X509 *chain[MAX_CHAIN];   /* the certificates after it in its PEM */
	size_t nchain;
	EVP_PKEY *key;
};

static void load(void)
{
	lib.loaded = lazylib_open(&lib);
}

/* Every PEM certificate of a blob, in order, into out (at most max); the count, or -1 if the blob holds
 * something else or nothing. */
static int read_certs(const char *pem, size_t len, X509 **out, int max)
{
	BIO *bio = REAL(BIO_new_mem_buf)(pem, (int)len);
	int n = 0;
	X509 *x;

	if (!bio)
		return -1;
	while (n < max && (x = REAL(PEM_read_bio_X509)(bio, NULL, NULL, NULL)) != NULL)
		out[n++] = x;
	REAL(BIO_free)(bio);
	REAL(ERR_clear_error)(); /* the end of the blob reads as "no start line" */
	return n > 0 ? n : -1;
}

static X509_STORE *read_store(const char *pem, size_t len)
{
	X509 *certs[64];
	int n = read_certs(pem, len, certs, 64);
	X509_STORE *store = n > 0 ? REAL(X509_STORE_new)() : NULL;
	int ok = store != NULL;

	for (int i = 0; i < n; i++) {
		ok = ok && REAL(X509_STORE_add_cert)(store, certs[i]) == 1;
		REAL(X509_free)(certs[i]);
	}
	if (!ok && store)
		REAL(X509_STORE_free)(store);
	return ok ? store : NULL;
}

/* An encrypted key is not asked a password for on the terminal: it does not parse here, and libcurl says why. */
static int no_password(char *buf, int size, int rwflag, void *ud)
{
	(void)buf, (void)size, (void)rwflag, (void)ud;
	return 0;
}

static EVP_PKEY *read_key(const char *pem, size_t len)
{
	BIO *bio = REAL(BIO_new_mem_buf)(pem, (int)len);
	EVP_PKEY *key = bio ? REAL(PEM_read_bio_PrivateKey)(bio, NULL, no_password, NULL) : NULL;

	if (bio)
		REAL(BIO_free)(bio);
	return key;
}

static int read_client(struct tls_material *m, const char *cert, size_t cert_len, const char *key, size_t key_len)
{
	X509 *certs[MAX_CHAIN + 1];
	int n = read_certs(cert, cert_len, certs, MAX_CHAIN + 1);

	if (n < 0)
		return -1;
	m->cert = certs[0];
	for (int i = 1; i < n; i++)
		m->chain[m->nchain++] = certs[i];
	m->key = key ? read_key(key, key_len) : NULL;
	return m->key ? 0 : -1;
}

struct tls_material *tls_material_new(const char *ca, size_t ca_len, const char *cert, size_t cert_len,
				      const char *key, size_t key_len)
{
	struct tls_material *m;

	if (!lazylib_ready(&lib, load) || !(m = calloc(1, sizeof *m)))
		return NULL;
	if ((ca && !(m->store = read_store(ca, ca_len))) ||
	    (cert && read_client(m, cert, cert_len, key, key_len) != 0)) {
		tls_material_free(m);
		return NULL;
	}
	return m;
}

/* A new connection's context: only the CAs given (the store replaces whatever libcurl put there), and the client
 * certificate, its chain and key. Non-zero fails the connection (CURLE_SSL_CERTPROBLEM / CONNECT_ERROR). */
int tls_material_install(void *curl, void *ssl_ctx, void *material)
{
	struct tls_material *m = material;
	SSL_CTX *ctx = ssl_ctx;

	(void)curl;
	if (m->store)
		REAL(SSL_CTX_set1_cert_store)(ctx, m->store); /* takes a reference of its own */
	if (m->cert && (REAL(SSL_CTX_use_certificate)(ctx, m->cert) != 1 ||
			REAL(SSL_CTX_use_PrivateKey)(ctx, m->key) != 1))
		return 1;
	for (size_t i = 0; i < m->nchain; i++)
		if (REAL(SSL_CTX_ctrl)(ctx, SSL_CTRL_CHAIN_CERT, 1, m->chain[i]) != 1) /* SSL_CTX_add1_chain_cert */
			return 1;
	return 0;
}

void tls_material_free(struct tls_material *m)
{
	if (!m)
		return;
	if (m->store)
		REAL(X509_STORE_free)(m->store);
	if (m->cert)
		REAL(X509_free)(m->cert);
	for (size_t i = 0; i < m->nchain; i++)
		REAL(X509_free)(m->chain[i]);
	if (m->key)
		REAL(EVP_PKEY_free)(m->key);
	free(m);
}
