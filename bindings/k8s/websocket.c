#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include "base/crypto_lazy.h"
#include "k8s/websocket.h"

/* RFC 6455 framing and the client handshake. Frames: 2 header bytes, an extended length (16 or 64 bit),
 * a mask key on client frames, the payload. Mask keys and the handshake's key come from getrandom(2) (the
 * kernel's CSPRNG); SHA-1 and base64 from libcrypto, loaded on first use (crypto_lazy.h). */

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define DEFAULT_MAX_MESSAGE ((size_t)16 << 20)
#define MAX_RESPONSE_HEAD 16384
#define MAX_REFUSAL_BODY 65536

long ws_parse_frame(const unsigned char *buf, size_t len, size_t max_payload, struct ws_frame *f, size_t *need,
		    char *err, size_t errlen)
{
	size_t head = 2;
	uint64_t plen;

	*need = 2;
	if (len < 2)
		return 0;
	f->fin = buf[0] >> 7;
	f->opcode = buf[0] & 0x0f;
	if (buf[0] & 0x70)
		return snprintf(err, errlen, "websocket: reserved bits set"), -1;
	if (buf[1] & 0x80)
		return snprintf(err, errlen, "websocket: the server sent a masked frame"), -1;
	if (f->opcode > WS_BINARY && f->opcode < WS_CLOSE)
		return snprintf(err, errlen, "websocket: unknown opcode %d", f->opcode), -1;
	if (f->opcode > WS_PONG)
		return snprintf(err, errlen, "websocket: unknown opcode %d", f->opcode), -1;
	plen = buf[1] & 0x7f;
	if (f->opcode >= WS_CLOSE && (plen > 125 || !f->fin))
		return snprintf(err, errlen, "websocket: bad control frame"), -1;
	if (plen == 126)
		head = 4;
	else if (plen == 127)
		head = 10;
	*need = head;
	if (len < head)
		return 0;
	if (plen == 126) {
		plen = (uint64_t)buf[2] << 8 | buf[3];
	} else if (plen == 127) {
		plen = 0;
		for (int i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		if (plen >> 63)
			return snprintf(err, errlen, "websocket: bogus frame length"), -1;
	}
	if (plen > max_payload)
		return snprintf(err, errlen, "websocket: frame of %llu bytes is over the limit of %zu",
				(unsigned long long)plen, max_payload), -1;
	*need = head + (size_t)plen;
	if (len < *need)
		return 0;
	f->payload = buf + head;
	f->len = (size_t)plen;
	return (long)*need;
}

size_t ws_build_frame(int opcode, int fin, const void *payload, size_t len, const unsigned char mask[4],
		      unsigned char *out)
{
	size_t o = 2;
	const unsigned char *p = payload;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		out[1] = 0x80 | 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		o = 4;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		o = 10;
	}
	memcpy(out + o, mask, 4);
	o += 4;
	for (size_t i = 0; i < len; i++)
		out[o + i] = p[i] ^ mask[i & 3];
	return o + len;
}

void ws_accept_key(const char *key, char out[29])
{
	unsigned char digest[SHA_DIGEST_LENGTH];
	char buf[128];

	snprintf(buf, sizeof buf, "%.60s%s", key, WS_GUID);
	if (!SHA1((const unsigned char *)buf, strlen(buf), digest))
		out[0] = '\0'; /* libcrypto could not be loaded: a key no server sends */
	else
		EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

void ws_init(struct ws_conn *c, struct ws_io io, size_t max_message)
{
	memset(c, 0, sizeof *c);
	c->io = io;
	c->max_message = max_message ? max_message : DEFAULT_MAX_MESSAGE;
}

void ws_free(struct ws_conn *c)
{
	free(c->buf);
	free(c->msg);
	c->buf = c->msg = NULL;
	c->len = c->cap = c->msg_len = c->msg_cap = 0;
}

static int reserve(unsigned char **buf, size_t *cap, size_t want)
{
	if (want <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < want)
		n *= 2;
	unsigned char *p = realloc(*buf, n);
	if (!p)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* Reads more bytes into c->buf until it holds at least want; got_eof set at a clean end of stream. */
static enum http_error fill(struct ws_conn *c, size_t want, long timeout_ms, int *got_eof)
{
	*got_eof = 0;
	if (reserve(&c->buf, &c->cap, want < 16384 ? 16384 : want))
		return snprintf(c->err, sizeof c->err, "websocket: out of memory"), HTTP_ERR_TOO_LARGE;
	while (c->len < want) {
		size_t got = 0;
		enum http_error e = c->io.recv(c->io.ud, c->buf + c->len, c->cap - c->len, &got, timeout_ms, c->err,
					       sizeof c->err);
		if (e != HTTP_OK)
			return e;
		if (got == 0) {
			*got_eof = 1;
			return HTTP_OK;
		}
		c->len += got;
	}
	return HTTP_OK;
}

enum http_error ws_send(struct ws_conn *c, int opcode, const void *data, size_t len)
{
	unsigned char mask[4], small[256], *frame = small;
	enum http_error e;

	if (getrandom(mask, sizeof mask, 0) != sizeof mask)
		return snprintf(c->err, sizeof c->err, "websocket: no random bytes"), HTTP_ERR_OTHER;
	if (len + 14 > sizeof small && !(frame = malloc(len + 14)))
		return snprintf(c->err, sizeof c->err, "websocket: out of memory"), HTTP_ERR_OTHER;
	size_t n = ws_build_frame(opcode, 1, data, len, mask, frame);
	e = c->io.send(c->io.ud, frame, n, c->err, sizeof c->err);
	if (frame != small)
		free(frame);
	return e;
}

static void consume(struct ws_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Handles one parsed frame; returns 1 when a whole data message is ready in c->msg (or a close came). */
static int on_frame(struct ws_conn *c, const struct ws_frame *f, int *opcode, enum http_error *e)
{
	*e = HTTP_OK;
	if (f->opcode == WS_PING) {
		*e = ws_send(c, WS_PONG, f->payload, f->len);
		return *e != HTTP_OK;
	}
	if (f->opcode == WS_PONG)
		return 0;
	if (f->opcode == WS_CLOSE) {
		c->closed = 1;
		c->close_code = f->len >= 2 ? f->payload[0] << 8 | f->payload[1] : 1005;
		ws_send(c, WS_CLOSE, f->payload, f->len >= 2 ? 2 : 0); /* echo the code; the peer may be gone */
		*opcode = WS_CLOSE;
		return 1;
	}
	if ((f->opcode == WS_CONT) != (c->msg_opcode != 0)) {
		snprintf(c->err, sizeof c->err, "websocket: %s", f->opcode == WS_CONT ? "continuation without a start" :
			 "new message inside a fragmented one");
		*e = HTTP_ERR_IO;
		return 1;
	}
	if (c->msg_len + f->len > c->max_message || reserve(&c->msg, &c->msg_cap, c->msg_len + f->len + 1)) {
		snprintf(c->err, sizeof c->err, "websocket: message over %zu bytes", c->max_message);
		*e = HTTP_ERR_TOO_LARGE;
		return 1;
	}
	if (f->opcode != WS_CONT)
		c->msg_opcode = f->opcode;
	if (f->len)
		memcpy(c->msg + c->msg_len, f->payload, f->len);
	c->msg_len += f->len;
	if (!f->fin)
		return 0;
	*opcode = c->msg_opcode;
	return 1;
}

/* Parses the next frame, reading as needed; *eof at a clean end of stream between frames. */
static enum http_error next_frame(struct ws_conn *c, struct ws_frame *f, long *n, int *eof, long timeout_ms)
{
	size_t need = 2;
	enum http_error e;

	*eof = 0;
	while ((*n = ws_parse_frame(c->buf, c->len, c->max_message, f, &need, c->err, sizeof c->err)) == 0) {
		if ((e = fill(c, need, timeout_ms, eof)) != HTTP_OK)
			return e;
		if (*eof && c->len == 0 && !c->msg_opcode)
			return HTTP_OK;
		if (*eof)
			return snprintf(c->err, sizeof c->err, "websocket: connection closed in the middle of a %s",
					c->len ? "frame" : "fragmented message"), HTTP_ERR_IO;
	}
	return *n < 0 ? HTTP_ERR_IO : HTTP_OK;
}

enum http_error ws_read(struct ws_conn *c, int *opcode, const unsigned char **data, size_t *len, long timeout_ms)
{
	*data = NULL;
	*len = 0;
	for (int frames = 0; frames < 1 << 20; frames++) {
		struct ws_frame f;
		enum http_error e;
		long n;
		int eof;
		if (c->closed) {
			*opcode = WS_CLOSE;
			return HTTP_OK;
		}
		if ((e = next_frame(c, &f, &n, &eof, timeout_ms)) != HTTP_OK)
			return e;
		if (eof) {
			c->closed = 1;
			c->close_code = 1006; /* no close frame: the stream just ended */
			continue;
		}
		int done = on_frame(c, &f, opcode, &e);
		consume(c, (size_t)n);
		if (e != HTTP_OK)
			return e;
		if (done && *opcode != WS_CLOSE) {
			*data = c->msg;
			*len = c->msg_len;
			c->msg_opcode = 0; /* the bytes stay valid until the next call overwrites them */
			c->msg_len = 0;
		}
		if (done)
			return HTTP_OK;
	}
	return snprintf(c->err, sizeof c->err, "websocket: too many frames without a message"), HTTP_ERR_IO;
}

/* Finds header name in the response head; copies its value (trimmed) into out. */
static int find_header(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1, *end = strstr(v, "\r\n");
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = end ? (size_t)(end - v) : strlen(v);
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			snprintf(out, outlen, "%.*s", (int)n, v);
			return 1;
		}
	}
	return 0;
}

static enum http_error send_upgrade(struct ws_conn *c, struct ws_handshake *h, const char *key)
{
	size_t n = strlen(h->path) + strlen(h->host) + strlen(h->protocols) + 256;
	for (size_t i = 0; i < h->nheaders; i++)
		n += strlen(h->headers[i].name) + strlen(h->headers[i].value) + 4;
	char *req = malloc(n);
	if (!req)
		return snprintf(c->err, sizeof c->err, "websocket: out of memory"), HTTP_ERR_OTHER;
	size_t o = (size_t)snprintf(req, n, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
				    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
				    "Sec-WebSocket-Protocol: %s\r\n", h->path, h->host, key, h->protocols);
	for (size_t i = 0; i < h->nheaders; i++)
		o += (size_t)snprintf(req + o, n - o, "%s: %s\r\n", h->headers[i].name, h->headers[i].value);
	o += (size_t)snprintf(req + o, n - o, "\r\n");
	enum http_error e = c->io.send(c->io.ud, req, o, c->err, sizeof c->err);
	memset(req, 0, o); /* it held the Authorization header */
	free(req);
	return e;
}

/* Reads up to the blank line; the bytes after it stay in c->buf (frames may follow at once). */
static enum http_error read_head(struct ws_conn *c, long timeout_ms, char **head)
{
	char *end;
	int eof = 0;

	for (;;) {
		if (c->len && (end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
			size_t n = (size_t)((unsigned char *)end - c->buf) + 4;
			if (!(*head = malloc(n + 1)))
				return HTTP_ERR_OTHER;
			memcpy(*head, c->buf, n);
			(*head)[n] = '\0';
			consume(c, n);
			return HTTP_OK;
		}
		if (c->len >= MAX_RESPONSE_HEAD)
			return snprintf(c->err, sizeof c->err, "websocket: response headers too long"), HTTP_ERR_IO;
		enum http_error e = fill(c, c->len + 1, timeout_ms, &eof);
		if (e != HTTP_OK)
			return e;
		if (eof)
			return snprintf(c->err, sizeof c->err, "websocket: connection closed during the handshake"),
			       HTTP_ERR_IO;
	}
}

/* A refused upgrade: keep the body (a Status) for the caller. */
static enum http_error read_refusal(struct ws_conn *c, struct ws_handshake *h, const char *head)
{
	char v[32];
	size_t want = MAX_REFUSAL_BODY;
	int eof = 0;

	if (find_header(head, "Content-Length", v, sizeof v))
		want = strtoul(v, NULL, 10) < MAX_REFUSAL_BODY ? strtoul(v, NULL, 10) : MAX_REFUSAL_BODY;
	while (c->len < want && !eof && fill(c, want, h->timeout_ms, &eof) == HTTP_OK && !eof)
		;
	size_t n = c->len < want ? c->len : want;
	if ((h->body = malloc(n + 1))) {
		memcpy(h->body, c->buf, n);
		h->body[n] = '\0';
		h->body_len = n;
	}
	snprintf(c->err, sizeof c->err, "websocket upgrade refused with HTTP %ld", h->status);
	return HTTP_OK;
}

static int offered(const char *offer, const char *chosen)
{
	size_t n = strlen(chosen);
	for (const char *p = offer; n && (p = strstr(p, chosen)); p += n)
		if ((p == offer || p[-1] == ',' || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
	return 0;
}

static enum http_error check_upgrade(struct ws_conn *c, const char *head, const char *key)
{
	char v[128], accept[29];

	ws_accept_key(key, accept);
	if (!find_header(head, "Upgrade", v, sizeof v) || strcasecmp(v, "websocket") != 0)
		return snprintf(c->err, sizeof c->err, "websocket: no Upgrade: websocket in the 101 answer"),
		       HTTP_ERR_IO;
	if (!find_header(head, "Sec-WebSocket-Accept", v, sizeof v) || strcmp(v, accept) != 0)
		return snprintf(c->err, sizeof c->err, "websocket: wrong Sec-WebSocket-Accept"), HTTP_ERR_IO;
	if (!find_header(head, "Sec-WebSocket-Protocol", c->protocol, sizeof c->protocol))
		c->protocol[0] = '\0';
	return HTTP_OK;
}

enum http_error ws_handshake(struct ws_conn *c, struct ws_handshake *h)
{
	unsigned char raw[16];
	char key[25], *head = NULL;
	enum http_error e;

	h->status = 0;
	h->body = NULL;
	h->body_len = 0;
	if (getrandom(raw, sizeof raw, 0) != sizeof raw)
		return snprintf(c->err, sizeof c->err, "websocket: no random bytes"), HTTP_ERR_OTHER;
	if (EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw) != (int)sizeof key - 1) {
		const char *why = medic_crypto_error();
		snprintf(c->err, sizeof c->err, "websocket: %s", why ? why : "cannot encode the key");
		return HTTP_ERR_OTHER;
	}
	if ((e = send_upgrade(c, h, key)) != HTTP_OK || (e = read_head(c, h->timeout_ms, &head)) != HTTP_OK)
		return e;
	if (strncmp(head, "HTTP/1.", 7) != 0 || sscanf(head + 8, " %ld", &h->status) != 1) {
		free(head);
		return snprintf(c->err, sizeof c->err, "websocket: not an HTTP answer"), HTTP_ERR_IO;
	}
	if (h->status != 101)
		e = read_refusal(c, h, head);
	else if ((e = check_upgrade(c, head, key)) == HTTP_OK && !offered(h->protocols, c->protocol)) {
		snprintf(c->err, sizeof c->err, "websocket: the server chose none of the offered protocols (%.100s)",
			 h->protocols);
		e = HTTP_ERR_IO;
	}
	free(head);
	return e;
}
