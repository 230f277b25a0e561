#ifndef MEDIC_X509_CERT_H
#define MEDIC_X509_CERT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What etcd-medic reads from one X.509 certificate: names, validity, serial, and whether it is a CA. Parsed with
 * libcrypto, which is loaded on first use (its own lazylib table here, opened after bindings/base/crypto_lazy.c's,
 * the same libcrypto.so.3). Public data only: the certificate's key is never touched. No Lua in this interface. */

#define X509_NAME_MAX 512     /* RFC 2253 text of a name; a longer one is cut, ending in "..." */
#define X509_SERIAL_MAX 64    /* octets; RFC 5280 allows 20, a longer serial is refused */

struct x509_cert {
	char subject[X509_NAME_MAX];   /* RFC 2253, as Go's pkix.Name prints it: "CN=etcd-signer,OU=openshift" */
	char issuer[X509_NAME_MAX];
	char common_name[X509_NAME_MAX]; /* the subject's last CN, "" if none */
	int64_t not_before, not_after; /* Unix seconds (UTC) */
	char serial[2 * X509_SERIAL_MAX + 1]; /* lower-case hex, as the DER octets are (openssl prints it upper) */
	bool is_ca;                    /* basicConstraints CA:TRUE */
};

/* Parses one PEM certificate block (x509_pem.h finds them). 0, or -1 with the reason in why: not a certificate,
 * unreadable dates, a serial over X509_SERIAL_MAX, or libcrypto that cannot be loaded. */
int x509_cert_parse(const char *pem, size_t len, struct x509_cert *out, char *why, size_t whylen);

#endif
