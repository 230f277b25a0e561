/* libFuzzer target: the WebSocket reader on an arbitrary server byte stream, delivered in pieces whose
 * size the first byte chooses. Build and run with `make fuzz` (bounded by FUZZ_SECONDS). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "k8s/websocket.h"

struct feed {
	const uint8_t *data;
	size_t len, pos, chunk;
};

static enum http_error feed_send(void *ud, const void *buf, size_t len, char *err, size_t errlen)
{
	return HTTP_OK; /* pongs and close echoes go nowhere */
}

static enum http_error feed_recv(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err,
				 size_t errlen)
{
	struct feed *f = ud;
	size_t n = f->len - f->pos;
	if (n > cap)
		n = cap;
	if (n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	*got = n;
	return HTTP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed f = {data + 1, size ? size - 1 : 0, 0, size ? (size_t)data[0] + 1 : 1};
	struct ws_conn c;
	const unsigned char *msg;
	size_t len;
	int op;

	ws_init(&c, (struct ws_io){&f, feed_send, feed_recv}, 1 << 16);
	for (int i = 0; i < 10000; i++)
		if (ws_read(&c, &op, &msg, &len, 10) != HTTP_OK || op == WS_CLOSE)
			break;
	ws_free(&c);
	return 0;
}
