#ifndef MEDIC_CRYPTO_LAZY_H
#define MEDIC_CRYPTO_LAZY_H
#include <stdbool.h>

/* libcrypto (OpenSSL) is loaded on first use (bindings/base/crypto_lazy.c): the few functions the code calls
 * (SHA-256 through EVP for snapshots, SHA-1 and base64 for the WebSocket handshake, base64 for basic auth)
 * are forwarders that dlopen libcrypto.so.3 on their first call. Linking it cost 2.5 M of the 4.0 M
 * instructions of `etcd-medic -e ''`. If the library cannot be loaded, nothing aborts: EVP_MD_CTX_new,
 * EVP_sha256 and SHA1 return NULL, EVP_Digest* return 0, and EVP_EncodeBlock writes "" and returns 0;
 * each caller turns that into medic_crypto_error(). Random bytes come from getrandom(2), not from here. */

/* Loads libcrypto if it is not loaded yet; true if it is usable. curl_lazy.c calls it before it loads libcurl,
 * which needs libcrypto: loaded first, libcrypto's relocations are looked up in its own short scope instead of
 * behind libcurl's 41 libraries (one member list over HTTP: 20.7 M instructions instead of 21.7 M). */
bool medic_crypto_load(void);

/* True once libcrypto has been loaded. */
bool medic_crypto_loaded(void);

/* "libcrypto.so.3 could not be loaded: <dlerror>" after a failed load, else NULL. */
const char *medic_crypto_error(void);

#endif
