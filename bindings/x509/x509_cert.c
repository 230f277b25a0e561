/* One certificate's public fields, through libcrypto loaded on first use: see x509_cert.h. */
#include <dlfcn.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/crypto_lazy.h"
#include "base/lazylib.h"
#include "x509/x509_cert.h"

#define X509_FUNCTIONS(X)                                                                                     \
	X(BIO_new_mem_buf) X(BIO_new) X(BIO_s_mem) X(BIO_read) X(BIO_free) X(PEM_read_bio_X509) X(X509_free)  \
	X(X509_get_subject_name) X(X509_get_issuer_name) X(X509_NAME_print_ex) X(X509_NAME_get_text_by_NID)  \
	X(X509_get0_notBefore) X(X509_get0_notAfter) X(ASN1_TIME_to_tm) X(X509_get0_serialNumber)            \
	X(ASN1_STRING_length) X(ASN1_STRING_get0_data) X(X509_get_extension_flags) X(ERR_get_error)          \
	X(ERR_error_string_n) X(ERR_clear_error)

LAZYLIB_TABLE(X509_FUNCTIONS);
#define REAL LAZYLIB_REAL

static struct lazylib lib = LAZYLIB_INIT("libcrypto.so.3", RTLD_LAZY);

/* crypto_lazy.c's loader first, so that libcrypto is opened (and its failure worded) in one place. */
static void load(void)
{
	if (!medic_crypto_load()) {
		snprintf(lib.error, sizeof lib.error, "%s", medic_crypto_error());
		return;
	}
	lib.loaded = lazylib_open(&lib);
}

/* A certificate block is never encrypted; a block claiming to be is refused instead of asking for a password. */
static int no_password(char *buf, int size, int rwflag, void *ud)
{
	(void)buf, (void)size, (void)rwflag, (void)ud;
	return -1;
}

static int fail(char *why, size_t whylen, const char *what)
{
	char detail[200] = "";
	unsigned long e = REAL(ERR_get_error)();

	if (e)
		REAL(ERR_error_string_n)(e, detail, sizeof detail);
	snprintf(why, whylen, "%s%s%s", what, e ? ": " : "", detail);
	REAL(ERR_clear_error)();
	return -1;
}

/* RFC 2253 text of a name, cut with "..." when it does not fit. */
static void name_text(const X509_NAME *name, char *out, size_t size)
{
	BIO *bio = REAL(BIO_new)(REAL(BIO_s_mem)());
	int n = 0;

	out[0] = '\0';
	if (!bio)
		return;
	if (REAL(X509_NAME_print_ex)(bio, name, 0, XN_FLAG_RFC2253) >= 0)
		n = REAL(BIO_read)(bio, out, (int)size);
	if (n >= (int)size)
		memcpy(out + size - 4, "...", 4);
	else
		out[n > 0 ? n : 0] = '\0';
	REAL(BIO_free)(bio);
}

static int unix_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (!t || REAL(ASN1_TIME_to_tm)(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int serial_hex(const X509 *x, char *out)
{
	const ASN1_INTEGER *s = REAL(X509_get0_serialNumber)(x);
	int n = s ? REAL(ASN1_STRING_length)(s) : -1;
	const unsigned char *d = s ? REAL(ASN1_STRING_get0_data)(s) : NULL;

	if (n < 0 || n > X509_SERIAL_MAX || (n > 0 && !d))
		return -1;
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	out[2 * n] = '\0';
	return 0;
}

static int fields(X509 *x, struct x509_cert *out, char *why, size_t whylen)
{
	X509_NAME *subject = REAL(X509_get_subject_name)(x);

	name_text(subject, out->subject, sizeof out->subject);
	name_text(REAL(X509_get_issuer_name)(x), out->issuer, sizeof out->issuer);
	if (REAL(X509_NAME_get_text_by_NID)(subject, NID_commonName, out->common_name,
					    (int)sizeof out->common_name) < 0)
		out->common_name[0] = '\0';
	if (unix_time(REAL(X509_get0_notBefore)(x), &out->not_before) != 0 ||
	    unix_time(REAL(X509_get0_notAfter)(x), &out->not_after) != 0)
		return fail(why, whylen, "unreadable validity dates");
	if (serial_hex(x, out->serial) != 0)
		return fail(why, whylen, "serial number missing or longer than 64 bytes");
	out->is_ca = (REAL(X509_get_extension_flags)(x) & EXFLAG_CA) != 0;
	return 0;
}

int x509_cert_parse(const char *pem, size_t len, struct x509_cert *out, char *why, size_t whylen)
{
	BIO *bio;
	X509 *x;
	int rc;

	memset(out, 0, sizeof *out);
	if (!lazylib_ready(&lib, load)) {
		snprintf(why, whylen, "%s", lazylib_error(&lib));
		return -1;
	}
	if (len > (size_t)INT32_MAX || !(bio = REAL(BIO_new_mem_buf)(pem, (int)len)))
		return fail(why, whylen, "cannot read the block");
	x = REAL(PEM_read_bio_X509)(bio, NULL, no_password, NULL);
	REAL(BIO_free)(bio);
	if (!x)
		return fail(why, whylen, "not a valid X.509 certificate");
	rc = fields(x, out, why, whylen);
	REAL(X509_free)(x);
	REAL(ERR_clear_error)();
	return rc;
}
