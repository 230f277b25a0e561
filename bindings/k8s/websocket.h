#ifndef MEDIC_WEBSOCKET_H
#define MEDIC_WEBSOCKET_H
#include <stddef.h>
#include <stdint.h>
#include "base/http.h"

/* RFC 6455 client side, over any byte transport (an http_raw connection in production, a fake in tests).
 * No Lua in this interface. Client frames are masked; server frames must not be. One frame is buffered
 * at a time; a message is assembled from fragments up to max_message bytes. */

enum ws_opcode { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

struct ws_frame {
	int fin, opcode;
	const unsigned char *payload;  /* points into the parse buffer */
	size_t len;
};

/* Parses one server frame from buf[0, len). Returns the bytes it takes (> 0), 0 if more bytes are needed
 * (*need then says how many in total, at least), or -1 with err filled: masked frame, reserved bits,
 * unknown opcode, fragmented or oversized control frame, a length with the top bit set, or a payload
 * over max_payload. */
long ws_parse_frame(const unsigned char *buf, size_t len, size_t max_payload, struct ws_frame *f, size_t *need,
		    char *err, size_t errlen);

/* Writes a masked client frame into out (room for len + 14 bytes); returns its size. */
size_t ws_build_frame(int opcode, int fin, const void *payload, size_t len, const unsigned char mask[4],
		      unsigned char *out);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)); out needs 29 bytes. "" if libcrypto cannot be
 * loaded (ws_handshake reports that before it needs this). */
void ws_accept_key(const char *key, char out[29]);

struct ws_io {
	void *ud;
	enum http_error (*send)(void *ud, const void *buf, size_t len, char *err, size_t errlen);
	enum http_error (*recv)(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err,
				size_t errlen);
};

struct ws_conn {
	struct ws_io io;
	unsigned char *buf;         /* received, not yet parsed bytes */
	size_t len, cap;
	size_t max_message;         /* 0: 16 MiB */
	unsigned char *msg;         /* a fragmented message being assembled */
	size_t msg_len, msg_cap;
	int msg_opcode;             /* 0: none in progress */
	int closed;                 /* a close frame was received */
	int close_code;             /* its status code, 1005 when it had none */
	char protocol[64];          /* the negotiated subprotocol */
	char err[256];
};

struct ws_handshake {
	const char *host;           /* Host header value ("api.example:6443") */
	const char *path;           /* request target, percent-encoded, with query */
	const struct http_header *headers; /* extra (Authorization), never logged */
	size_t nheaders;
	const char *protocols;      /* Sec-WebSocket-Protocol offer, e.g. "v5.channel.k8s.io,v4.channel.k8s.io" */
	long timeout_ms;
	/* Filled when the server answers with something other than 101: */
	long status;
	char *body;                 /* malloc'd response body (a Status), or NULL */
	size_t body_len;
};

void ws_init(struct ws_conn *c, struct ws_io io, size_t max_message);
void ws_free(struct ws_conn *c);
/* Sends the upgrade request and checks the 101 answer (Upgrade, Connection, Sec-WebSocket-Accept and an
 * offered protocol). HTTP_OK, or an error with c->err filled (h->status/body set for a refused upgrade;
 * HTTP_ERR_OTHER with "websocket: libcrypto.so.3 could not be loaded: ..." before sending anything if
 * libcrypto cannot be loaded). */
enum http_error ws_handshake(struct ws_conn *c, struct ws_handshake *h);
/* Receives the next data message, answering pings. HTTP_OK with *opcode WS_TEXT/WS_BINARY and data/len
 * (valid until the next call); HTTP_OK with *opcode WS_CLOSE at the end (a close frame or EOF between
 * frames); an error otherwise (EOF in the middle of a frame, protocol errors, timeout). */
enum http_error ws_read(struct ws_conn *c, int *opcode, const unsigned char **data, size_t *len, long timeout_ms);
/* Sends one whole message (or control frame), masked with fresh random keys. */
enum http_error ws_send(struct ws_conn *c, int opcode, const void *data, size_t len);

#endif
