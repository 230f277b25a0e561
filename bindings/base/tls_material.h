#ifndef MEDIC_TLS_MATERIAL_H
#define MEDIC_TLS_MATERIAL_H
#include <stddef.h>

/* A client's TLS material (CA certificates, client certificate chain and key), parsed once. libcurl builds a new
 * OpenSSL context for every connection and parses PEM blobs into it each time: with OpenSSL 3 that is most of a
 * resumed handshake's CPU (a WebSocket exec opens a connection of its own). Installed from here instead, by
 * libcurl's CURLOPT_SSL_CTX_FUNCTION, each connection shares the parsed objects.
 *
 * libssl (and libcrypto) are already loaded by libcurl when this is used; they are looked up with dlopen
 * (RTLD_NOLOAD), never linked. NULL from tls_material_new means "not available here": the caller then gives
 * libcurl the PEM blobs as before. */
struct tls_material;

/* ca: PEM certificates to trust (only these), or NULL; cert and key: the client's PEM certificate (chain) and
 * key, or NULL. NULL if libssl is not loaded or a blob does not parse completely. */
struct tls_material *tls_material_new(const char *ca, size_t ca_len, const char *cert, size_t cert_len,
				      const char *key, size_t key_len);

/* libcurl's CURLOPT_SSL_CTX_FUNCTION, with the material as CURLOPT_SSL_CTX_DATA. */
int tls_material_install(void *curl, void *ssl_ctx, void *material);

void tls_material_free(struct tls_material *m);

#endif
