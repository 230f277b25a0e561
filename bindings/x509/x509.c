/* medic.x509: the public fields of the certificates in a PEM bundle (a Secret's tls.crt, a CA bundle).
 * x509.read(pem) -> { {subject=, issuer=, common_name=, not_before=, not_after=, serial=, is_ca=}, ... }, or
 * nil, message, code. Only CERTIFICATE blocks are read (x509_pem.c); keys beside them are never decoded.
 * libcrypto is loaded on the first read, not when the module is required. */
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include "base/errors.h"
#include "x509/x509_cert.h"
#include "x509/x509_pem.h"

#define INPUT_MAX (4u << 20)  /* a tls.crt is a few KiB; a CA bundle of every public CA is ~200 KiB */
#define CERTS_MAX 1000

static int refuse(lua_State *L, const char *code, const char *fmt, ...)
{
	va_list ap;

	lua_pushnil(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushstring(L, code);
	return 3;
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	lua_pushstring(L, value);
	lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, lua_Integer value)
{
	lua_pushinteger(L, value);
	lua_setfield(L, -2, key);
}

static void push_cert(lua_State *L, const struct x509_cert *c)
{
	lua_createtable(L, 0, 7);
	set_string(L, "subject", c->subject);
	set_string(L, "issuer", c->issuer);
	set_string(L, "common_name", c->common_name);
	set_integer(L, "not_before", (lua_Integer)c->not_before);
	set_integer(L, "not_after", (lua_Integer)c->not_after);
	set_string(L, "serial", c->serial);
	lua_pushboolean(L, c->is_ca);
	lua_setfield(L, -2, "is_ca");
}

/* x509.read(pem): every certificate of the text, in order. */
static int l_read(lua_State *L)
{
	size_t len, pos = 0;
	const char *pem = luaL_checklstring(L, 1, &len), *why = NULL;
	struct x509_pem_block block;
	struct x509_cert cert;
	char reason[320];
	int n = 0, found;

	if (len > INPUT_MAX)
		return refuse(L, MEDIC_E_TOO_LARGE, "PEM input of %d bytes; the limit is %d", (int)len, (int)INPUT_MAX);
	lua_newtable(L);
	while ((found = x509_pem_next(pem, len, &pos, &block, &why)) == 1) {
		if (n == CERTS_MAX)
			return refuse(L, MEDIC_E_TOO_LARGE, "more than %d certificates in the input", CERTS_MAX);
		if (x509_cert_parse(block.text, block.len, &cert, reason, sizeof reason) != 0)
			return refuse(L, MEDIC_E_INVALID_ARGUMENT, "certificate %d of the input: %s", n + 1, reason);
		push_cert(L, &cert);
		lua_rawseti(L, -2, ++n);
	}
	if (found < 0)
		return refuse(L, MEDIC_E_INVALID_ARGUMENT, "certificate %d of the input: %s", n + 1, why);
	if (n == 0)
		return refuse(L, MEDIC_E_INVALID_ARGUMENT, "no PEM certificate (%s) in the input",
			      "-----BEGIN CERTIFICATE-----");
	return 1;
}

static const luaL_Reg functions[] = {
	{"read", l_read},
	{NULL, NULL}
};

int luaopen_medic_x509(lua_State *L);
int luaopen_medic_x509(lua_State *L)
{
	luaL_newlib(L, functions);
	return 1;
}
