/* libFuzzer target: a pod exec session (bindings/k8s/k8s_exec.c) against an arbitrary server: the upgrade
 * answer, the frame stream, the channel demultiplexing, and the channel-3 Status decoded with medic.json as
 * scripts/medic/k8s.lua does (k8s.exit_code). Input: byte 0 flags (bit 0: the input is the whole server
 * answer, handshake included; else a valid 101 is sent first, bit 1 choosing v4 over v5), byte 1 the read
 * size, then the server's bytes. Build and run with `make fuzz`; seeds in fuzz/corpus/k8s_exec/. */
#include <lauxlib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "json/json.h"
#include "k8s/k8s_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake {
	const uint8_t *in;
	size_t len, pos, chunk;
	char head[512];
	size_t head_len, head_pos;
	int raw, head_made, v4;
};

static enum http_error fake_send(void *ud, const void *buf, size_t len, char *err, size_t errlen)
{
	struct fake *f = ud;
	if (f->raw || f->head_made)
		return HTTP_OK;
	/* the upgrade request: answer it properly (the key is random per request) */
	char key[64] = "", accept[29];
	const char *k = memmem(buf, len, "Sec-WebSocket-Key: ", 19);
	if (k)
		sscanf(k + 19, "%63[^\r]", key);
	ws_accept_key(key, accept);
	int n = snprintf(f->head, sizeof f->head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
			 accept, f->v4 ? "v4.channel.k8s.io" : "v5.channel.k8s.io");
	f->head_len = (size_t)n;
	f->head_made = 1;
	return HTTP_OK;
}

static enum http_error fake_recv(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err,
				 size_t errlen)
{
	struct fake *f = ud;
	size_t n;
	if (cap > f->chunk)
		cap = f->chunk;
	if (f->head_pos < f->head_len) {
		n = f->head_len - f->head_pos < cap ? f->head_len - f->head_pos : cap;
		memcpy(buf, f->head + f->head_pos, n);
		f->head_pos += n;
	} else {
		n = f->len - f->pos < cap ? f->len - f->pos : cap;
		memcpy(buf, f->in + f->pos, n);
		f->pos += n;
	}
	*got = n;
	return HTTP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static lua_State *L;
	if (!L)
		L = luaL_newstate();
	if (size < 2)
		return 0;
	struct fake f = {.in = data + 2, .len = size - 2, .chunk = (size_t)data[1] + 1, .raw = data[0] & 1,
			 .v4 = (data[0] >> 1) & 1};
	struct exec_session s;
	memset(&s, 0, sizeof s);
	s.host = "127.0.0.1:6443";
	s.path = "/api/v1/namespaces/ns/pods/p/exec?command=true&stdout=true";
	s.timeout_ms = 2000;
	s.max_output = 1 << 20;
	if (data[0] & 4) {
		s.stdin_data = "input";
		s.stdin_len = 5;
	}
	exec_session_run(&s, (struct ws_io){&f, fake_send, fake_recv});
	if (s.out[3].len) {
		lua_settop(L, 0);
		medic_json_decode(L, s.out[3].data, s.out[3].len);
	}
	exec_session_free(&s);
	return 0;
}
