#ifndef MEDIC_X509_PEM_H
#define MEDIC_X509_PEM_H
#include <stddef.h>

/* The CERTIFICATE blocks of a PEM text, found by their BEGIN and END lines only. Nothing else in the text is
 * looked at: a private key block beside the certificates (a tls.crt holding both, a bundle with a key pasted in)
 * is skipped over, never decoded, never handed to libcrypto. No Lua, no libcrypto: the fuzz target and cmocka
 * test it alone. */

struct x509_pem_block {
	const char *text; /* from "-----BEGIN CERTIFICATE-----" to the end of "-----END CERTIFICATE-----" */
	size_t len;
};

/* The next certificate block at or after *pos in text[0..len); *pos moves past it.
 * 1: found (*block set); 0: no more blocks; -1: a block is broken, *why says how (a static string):
 * a BEGIN line without its END line (a truncated bundle), or another BEGIN line inside the block. */
int x509_pem_next(const char *text, size_t len, size_t *pos, struct x509_pem_block *block, const char **why);

#endif
