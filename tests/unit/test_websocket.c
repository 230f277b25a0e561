/* WebSocket framing and handshake (bindings/k8s/websocket.c) over a fake transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/websocket.h"

struct fake {
	unsigned char in[1 << 17];
	size_t in_len, pos, chunk;
	unsigned char out[1 << 17];
	size_t out_len;
	const char *handshake;      /* when set: answer the upgrade request with this head (%s: the accept key) */
};

static enum http_error fake_send(void *ud, const void *buf, size_t len, char *err, size_t errlen)
{
	struct fake *f = ud;
	assert_true(f->out_len + len <= sizeof f->out);
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	if (f->handshake) { /* answer the upgrade with the accept key of the request's key */
		char key[64] = "", accept[29], head[1024];
		const char *k = strstr((const char *)f->out, "Sec-WebSocket-Key: ");
		assert_non_null(k);
		sscanf(k + 19, "%63[^\r]", key);
		ws_accept_key(key, accept);
		int n = snprintf(head, sizeof head, f->handshake, accept);
		memmove(f->in + n, f->in, f->in_len);
		memcpy(f->in, head, (size_t)n);
		f->in_len += (size_t)n;
		f->handshake = NULL;
	}
	return HTTP_OK;
}

static enum http_error fake_recv(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err,
				 size_t errlen)
{
	struct fake *f = ud;
	size_t n = f->in_len - f->pos;
	if (n > cap)
		n = cap;
	if (f->chunk && n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->in + f->pos, n);
	f->pos += n;
	*got = n;
	return HTTP_OK;
}

/* Appends a server frame (unmasked). */
static void frame(struct fake *f, int fin, int opcode, const void *payload, size_t len)
{
	unsigned char *p = f->in + f->in_len;
	size_t o = 2;
	p[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		p[1] = (unsigned char)len;
	} else if (len <= 0xffff) {
		p[1] = 126;
		p[2] = (unsigned char)(len >> 8);
		p[3] = (unsigned char)len;
		o = 4;
	} else {
		p[1] = 127;
		for (int i = 0; i < 8; i++)
			p[2 + i] = (unsigned char)((unsigned long long)len >> (56 - 8 * i));
		o = 10;
	}
	memcpy(p + o, payload, len);
	f->in_len += o + len;
}

static void conn(struct ws_conn *c, struct fake *f, size_t max)
{
	ws_init(c, (struct ws_io){f, fake_send, fake_recv}, max);
}

static void test_accept_key(void **state)
{
	char out[29];
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out); /* RFC 6455 section 1.3 */
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_parse_lengths_and_partial(void **state)
{
	static struct fake f;
	static unsigned char big[70000];
	struct ws_frame fr;
	size_t need;
	char err[256];
	memset(&f, 0, sizeof f);
	frame(&f, 1, WS_BINARY, "\x01hi", 3);
	assert_int_equal(ws_parse_frame(f.in, 1, 100, &fr, &need, err, sizeof err), 0);
	assert_int_equal(ws_parse_frame(f.in, 4, 100, &fr, &need, err, sizeof err), 0);
	assert_int_equal(need, 5);
	assert_int_equal(ws_parse_frame(f.in, f.in_len, 100, &fr, &need, err, sizeof err), 5);
	assert_int_equal(fr.opcode, WS_BINARY);
	assert_int_equal(fr.fin, 1);
	assert_int_equal(fr.len, 3);
	assert_memory_equal(fr.payload, "\x01hi", 3);

	memset(&f, 0, sizeof f);
	frame(&f, 1, WS_BINARY, big, 300);
	assert_int_equal(ws_parse_frame(f.in, f.in_len, 1000, &fr, &need, err, sizeof err), 304);
	memset(&f, 0, sizeof f);
	frame(&f, 1, WS_BINARY, big, sizeof big);
	assert_int_equal(ws_parse_frame(f.in, 9, sizeof big, &fr, &need, err, sizeof err), 0);
	assert_int_equal(need, 10);
	assert_int_equal(ws_parse_frame(f.in, f.in_len, sizeof big, &fr, &need, err, sizeof err), 10 + sizeof big);
	assert_int_equal(ws_parse_frame(f.in, f.in_len, sizeof big - 1, &fr, &need, err, sizeof err), -1);
	assert_non_null(strstr(err, "over the limit")); /* oversize is refused before it is buffered */
}

static void expect_bad(const unsigned char *b, size_t n, const char *needle)
{
	struct ws_frame fr;
	size_t need;
	char err[256];
	assert_int_equal(ws_parse_frame(b, n, 1 << 20, &fr, &need, err, sizeof err), -1);
	if (!strstr(err, needle))
		fail_msg("\"%s\" lacks \"%s\"", err, needle);
}

static void test_parse_rejects(void **state)
{
	expect_bad((const unsigned char *)"\x82\x81\x00\x00\x00\x00x", 7, "masked");
	expect_bad((const unsigned char *)"\xc2\x00", 2, "reserved");
	expect_bad((const unsigned char *)"\x83\x00", 2, "opcode");
	expect_bad((const unsigned char *)"\x8f\x00", 2, "opcode");
	expect_bad((const unsigned char *)"\x89\x7e\x00\x80", 4, "control");
	expect_bad((const unsigned char *)"\x09\x00", 2, "control"); /* fragmented ping */
	expect_bad((const unsigned char *)"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, "bogus");
	expect_bad((const unsigned char *)"\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00", 10, "over the limit");
}

static void test_build_masks(void **state)
{
	static unsigned char payload[70000], out[70100];
	const unsigned char mask[4] = {1, 2, 3, 4};
	size_t sizes[] = {0, 125, 126, 65535, 65536};
	for (size_t s = 0; s < 5; s++) {
		for (size_t i = 0; i < sizes[s]; i++)
			payload[i] = (unsigned char)(i * 7);
		size_t n = ws_build_frame(WS_BINARY, 1, payload, sizes[s], mask, out);
		size_t head = sizes[s] < 126 ? 2 : sizes[s] <= 0xffff ? 4 : 10;
		assert_int_equal(n, head + 4 + sizes[s]);
		assert_int_equal(out[0], 0x82);
		assert_true(out[1] & 0x80); /* client frames are masked */
		assert_memory_equal(out + head, mask, 4);
		for (size_t i = 0; i < sizes[s]; i++)
			assert_int_equal(out[head + 4 + i] ^ mask[i & 3], payload[i]);
	}
}

static void test_read_fragments_ping_close(void **state)
{
	static struct fake f;
	struct ws_conn c;
	const unsigned char *data;
	size_t len;
	int op;
	memset(&f, 0, sizeof f);
	f.chunk = 3; /* the transport hands out tiny pieces */
	frame(&f, 0, WS_BINARY, "\x01he", 3);
	frame(&f, 1, WS_PING, "pi", 2);
	frame(&f, 0, WS_CONT, "ll", 2);
	frame(&f, 1, WS_CONT, "o", 1);
	frame(&f, 1, WS_BINARY, "\x02", 1);
	frame(&f, 1, WS_CLOSE, "\x03\xe8", 2);
	conn(&c, &f, 0);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_OK);
	assert_int_equal(op, WS_BINARY);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "\x01hello", 6);
	/* the ping was answered with a masked pong carrying the same payload */
	assert_int_equal(f.out[0], 0x8a);
	assert_int_equal(f.out[1], 0x82);
	assert_int_equal(f.out[6] ^ f.out[2], 'p');
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_OK);
	assert_int_equal(op, WS_BINARY);
	assert_int_equal(len, 1);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_OK);
	assert_int_equal(op, WS_CLOSE);
	assert_int_equal(c.close_code, 1000);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_OK); /* stays closed */
	assert_int_equal(op, WS_CLOSE);
	ws_free(&c);
}

static void test_read_errors(void **state)
{
	static struct fake f;
	struct ws_conn c;
	const unsigned char *data;
	size_t len;
	int op;

	memset(&f, 0, sizeof f); /* EOF in the middle of a frame */
	frame(&f, 1, WS_BINARY, "\x01hello", 6);
	f.in_len -= 2;
	conn(&c, &f, 0);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_ERR_IO);
	assert_non_null(strstr(c.err, "middle of a frame"));
	ws_free(&c);

	memset(&f, 0, sizeof f); /* EOF between frames: the end */
	conn(&c, &f, 0);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_OK);
	assert_int_equal(op, WS_CLOSE);
	assert_int_equal(c.close_code, 1006);
	ws_free(&c);

	memset(&f, 0, sizeof f); /* EOF inside a fragmented message */
	frame(&f, 0, WS_TEXT, "a", 1);
	conn(&c, &f, 0);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_ERR_IO);
	ws_free(&c);

	memset(&f, 0, sizeof f);
	frame(&f, 1, WS_CONT, "a", 1);
	conn(&c, &f, 0);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_ERR_IO);
	assert_non_null(strstr(c.err, "continuation"));
	ws_free(&c);

	memset(&f, 0, sizeof f); /* fragments adding up to more than the message limit */
	frame(&f, 0, WS_BINARY, "0123456789", 10);
	frame(&f, 1, WS_CONT, "0123456789", 10);
	conn(&c, &f, 15);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_ERR_TOO_LARGE);
	ws_free(&c);

	memset(&f, 0, sizeof f); /* a bogus 64-bit length */
	memcpy(f.in, "\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 10);
	f.in_len = 10;
	conn(&c, &f, 0);
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_ERR_IO);
	assert_non_null(strstr(c.err, "bogus"));
	ws_free(&c);
}

static const char OK_HEAD[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			      "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n";

static void test_handshake(void **state)
{
	static struct fake f;
	struct ws_conn c;
	struct http_header h[] = {{"Authorization", "Bearer sekrit"}};
	struct ws_handshake hs = {.host = "api:6443", .path = "/api/v1/x?command=ls", .headers = h, .nheaders = 1,
				  .protocols = "v5.channel.k8s.io,v4.channel.k8s.io", .timeout_ms = 1000};
	const unsigned char *data;
	size_t len;
	int op;

	memset(&f, 0, sizeof f);
	f.handshake = OK_HEAD;
	frame(&f, 1, WS_BINARY, "\x01", 1); /* the first frame arrives together with the 101 */
	conn(&c, &f, 0);
	assert_int_equal(ws_handshake(&c, &hs), HTTP_OK);
	assert_int_equal(hs.status, 101);
	assert_string_equal(c.protocol, "v4.channel.k8s.io");
	assert_non_null(strstr((char *)f.out, "GET /api/v1/x?command=ls HTTP/1.1\r\nHost: api:6443\r\n"));
	assert_non_null(strstr((char *)f.out, "Sec-WebSocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io\r\n"));
	assert_non_null(strstr((char *)f.out, "Authorization: Bearer sekrit\r\n"));
	assert_int_equal(ws_read(&c, &op, &data, &len, 1000), HTTP_OK);
	assert_int_equal(len, 1);
	ws_free(&c);

	memset(&f, 0, sizeof f);
	f.handshake = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
		      "{\"kind\":\"Status\"}trailing";
	conn(&c, &f, 0);
	assert_int_equal(ws_handshake(&c, &hs), HTTP_OK);
	assert_int_equal(hs.status, 403);
	assert_string_equal(hs.body, "{\"kind\":\"Status\"}");
	free(hs.body);
	ws_free(&c);

	memset(&f, 0, sizeof f);
	f.handshake = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: wrong%s\r\n\r\n";
	conn(&c, &f, 0);
	assert_int_equal(ws_handshake(&c, &hs), HTTP_ERR_IO);
	assert_non_null(strstr(c.err, "Accept"));
	ws_free(&c);

	memset(&f, 0, sizeof f);
	f.handshake = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n"
		      "Sec-WebSocket-Protocol: channel.k8s.io\r\n\r\n";
	conn(&c, &f, 0);
	assert_int_equal(ws_handshake(&c, &hs), HTTP_ERR_IO);
	assert_non_null(strstr(c.err, "none of the offered"));
	ws_free(&c);

	memset(&f, 0, sizeof f); /* the server hangs up during the handshake */
	conn(&c, &f, 0);
	assert_int_equal(ws_handshake(&c, &hs), HTTP_ERR_IO);
	ws_free(&c);
}

/* Mask keys and handshake keys are fresh random bytes (getrandom(2)) for every frame and every handshake. */
static void test_fresh_random_keys(void **state)
{
	static struct fake f;
	struct ws_conn c;
	struct ws_handshake hs = {.host = "api:6443", .path = "/", .protocols = "v4.channel.k8s.io", .timeout_ms = 1000};
	unsigned char masks[2][4];
	char keys[2][64];

	for (int i = 0; i < 2; i++) {
		memset(&f, 0, sizeof f);
		conn(&c, &f, 0);
		assert_int_equal(ws_send(&c, WS_BINARY, "same", 4), HTTP_OK);
		assert_int_equal(f.out_len, 2 + 4 + 4);
		memcpy(masks[i], f.out + 2, 4);
		ws_free(&c);

		memset(&f, 0, sizeof f);
		f.handshake = OK_HEAD;
		conn(&c, &f, 0);
		assert_int_equal(ws_handshake(&c, &hs), HTTP_OK);
		assert_int_equal(sscanf(strstr((char *)f.out, "Sec-WebSocket-Key: ") + 19, "%63[^\r]", keys[i]), 1);
		assert_int_equal(strlen(keys[i]), 24); /* base64 of 16 bytes */
		assert_string_equal(keys[i] + 22, "==");
		ws_free(&c);
	}
	assert_memory_not_equal(masks[0], masks[1], 4);
	assert_string_not_equal(keys[0], keys[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_parse_lengths_and_partial),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_build_masks),
		cmocka_unit_test(test_read_fragments_ping_close),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_fresh_random_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
