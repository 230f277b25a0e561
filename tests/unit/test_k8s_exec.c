/* Exec sessions (bindings/k8s_exec.c) over a fake transport: channel demultiplexing, the channel-3 Status
 * kept whole, stdin on channel 0 and v5's close signal (none on v4), output limits, a server that hangs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/k8s_exec.h"

struct fake {
	unsigned char in[1 << 16];
	size_t in_len, pos;
	unsigned char out[1 << 16];
	size_t out_len;
	const char *protocol;      /* answered in the 101 */
	int head_sent, hang;       /* hang: no EOF at the end, a timeout instead */
};

static enum http_error fake_send(void *ud, const void *buf, size_t len, char *err, size_t errlen)
{
	struct fake *f = ud;
	assert_true(f->out_len + len <= sizeof f->out);
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	if (!f->head_sent) {
		char key[64] = "", accept[29], head[512];
		sscanf(strstr((char *)f->out, "Sec-WebSocket-Key: ") + 19, "%63[^\r]", key);
		ws_accept_key(key, accept);
		int n = snprintf(head, sizeof head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
				 accept, f->protocol);
		memmove(f->in + n, f->in, f->in_len);
		memcpy(f->in, head, (size_t)n);
		f->in_len += (size_t)n;
		f->head_sent = 1;
	}
	return HTTP_OK;
}

static enum http_error fake_recv(void *ud, void *buf, size_t cap, size_t *got, long timeout_ms, char *err,
				 size_t errlen)
{
	struct fake *f = ud;
	size_t n = f->in_len - f->pos < cap ? f->in_len - f->pos : cap;
	if (n == 0 && f->hang) {
		snprintf(err, errlen, "no data");
		return HTTP_ERR_TIMEOUT;
	}
	memcpy(buf, f->in + f->pos, n);
	f->pos += n;
	*got = n;
	return HTTP_OK;
}

static void server_msg(struct fake *f, int channel, const char *payload)
{
	size_t len = strlen(payload) + 1;
	assert_true(len < 126);
	f->in[f->in_len++] = 0x82;
	f->in[f->in_len++] = (unsigned char)len;
	f->in[f->in_len++] = (unsigned char)channel;
	memcpy(f->in + f->in_len, payload, len - 1);
	f->in_len += len - 1;
}

static void server_close(struct fake *f)
{
	memcpy(f->in + f->in_len, "\x88\x02\x03\xe8", 4);
	f->in_len += 4;
}

/* The client frames after the upgrade request, unmasked, as "op:hex-payload" lines. */
static void client_frames(struct fake *f, char *out, size_t n)
{
	const unsigned char *p = (unsigned char *)strstr((char *)f->out, "\r\n\r\n") + 4, *end = f->out + f->out_len;
	size_t o = 0;
	out[0] = '\0';
	while (p + 6 <= end) {
		int op = p[0] & 15;
		size_t len = p[1] & 127, head = 2;
		if (len == 126) {
			len = (size_t)p[2] << 8 | p[3];
			head = 4;
		}
		const unsigned char *mask = p + head, *data = mask + 4;
		o += (size_t)snprintf(out + o, n - o, "%d:", op);
		for (size_t i = 0; i < len && o + 3 < n; i++)
			o += (size_t)snprintf(out + o, n - o, "%02x", data[i] ^ mask[i & 3]);
		o += (size_t)snprintf(out + o, n - o, "\n");
		p = data + len;
	}
}

static const char STATUS3[] = "{\"metadata\":{},\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\","
			      "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"3\"}]}}";

static void test_demultiplex_v5_with_stdin(void **state)
{
	static struct fake f;
	struct exec_session s = {.host = "api:6443", .path = "/api/v1/namespaces/ns/pods/p/exec?command=cat",
				 .auth = "Bearer t", .stdin_data = "hi", .stdin_len = 2, .timeout_ms = 5000,
				 .max_output = 1 << 20};
	char frames[512];
	memset(&f, 0, sizeof f);
	f.protocol = "v5.channel.k8s.io";
	server_msg(&f, 1, "");          /* connection established */
	server_msg(&f, 1, "out");
	server_msg(&f, 2, "err");
	server_msg(&f, 1, "more");
	server_msg(&f, 3, STATUS3);
	server_close(&f);
	assert_int_equal(exec_session_run(&s, (struct ws_io){&f, fake_send, fake_recv}), HTTP_OK);
	assert_string_equal(s.ws.protocol, "v5.channel.k8s.io");
	assert_int_equal(s.out[1].len, 7);
	assert_memory_equal(s.out[1].data, "outmore", 7);
	assert_int_equal(s.out[2].len, 3);
	assert_memory_equal(s.out[2].data, "err", 3);
	assert_int_equal(s.out[3].len, strlen(STATUS3));
	assert_memory_equal(s.out[3].data, STATUS3, strlen(STATUS3));
	client_frames(&f, frames, sizeof frames);
	/* stdin on channel 0, then the v5 close signal [255, 0], then the echo of the server's close */
	assert_string_equal(frames, "2:006869\n2:ff00\n8:03e8\n");
	exec_session_free(&s);
}

/* stdout_file: stdout goes to the file as it arrives, in order; stderr and the Status are still gathered. */
static void test_stdout_to_a_file(void **state)
{
	static struct fake f;
	char got[16] = {0};
	FILE *out = tmpfile();
	struct exec_session s = {.host = "h", .path = "/x", .timeout_ms = 5000, .max_output = 1 << 20, .stdout_file = out};
	memset(&f, 0, sizeof f);
	f.protocol = "v5.channel.k8s.io";
	server_msg(&f, 1, "");
	server_msg(&f, 1, "out");
	server_msg(&f, 2, "err");
	server_msg(&f, 1, "more");
	server_msg(&f, 3, STATUS3);
	server_close(&f);
	assert_non_null(out);
	assert_int_equal(exec_session_run(&s, (struct ws_io){&f, fake_send, fake_recv}), HTTP_OK);
	assert_int_equal(s.out[1].len, 0);
	assert_true(s.stdout_bytes == 7);
	assert_int_equal(s.out[2].len, 3);
	assert_int_equal(s.out[3].len, strlen(STATUS3));
	rewind(out);
	assert_int_equal(fread(got, 1, sizeof got, out), 7);
	assert_string_equal(got, "outmore");
	fclose(out);
	exec_session_free(&s);
}

static void test_v4_has_no_close_signal(void **state)
{
	static struct fake f;
	struct exec_session s = {.host = "h", .path = "/x", .stdin_data = "hi", .stdin_len = 2, .timeout_ms = 5000,
				 .max_output = 1 << 20};
	char frames[512];
	memset(&f, 0, sizeof f);
	f.protocol = "v4.channel.k8s.io";
	server_msg(&f, 3, "{\"metadata\":{},\"status\":\"Success\"}");
	assert_int_equal(exec_session_run(&s, (struct ws_io){&f, fake_send, fake_recv}), HTTP_OK); /* EOF ends it */
	client_frames(&f, frames, sizeof frames);
	assert_string_equal(frames, "2:006869\n"); /* the stream just ended: nothing to close */
	assert_null(strstr((char *)f.out, "Authorization")); /* no credential, no header */
	exec_session_free(&s);
}

static void test_limits_and_hang(void **state)
{
	static struct fake f;
	struct exec_session s = {.host = "h", .path = "/x", .timeout_ms = 5000, .max_output = 4};
	memset(&f, 0, sizeof f);
	f.protocol = "v5.channel.k8s.io";
	server_msg(&f, 1, "abc");
	server_msg(&f, 1, "def");
	assert_int_equal(exec_session_run(&s, (struct ws_io){&f, fake_send, fake_recv}), HTTP_ERR_TOO_LARGE);
	assert_non_null(strstr(s.errmsg, "output larger"));
	exec_session_free(&s);

	struct exec_session h = {.host = "h", .path = "/x", .timeout_ms = 300, .max_output = 100};
	memset(&f, 0, sizeof f);
	f.protocol = "v5.channel.k8s.io";
	f.hang = 1;
	server_msg(&f, 1, "partial");
	assert_int_equal(exec_session_run(&h, (struct ws_io){&f, fake_send, fake_recv}), HTTP_ERR_TIMEOUT);
	exec_session_free(&h);
}

static void test_refused_upgrade(void **state)
{
	static struct fake f;
	struct exec_session s = {.host = "h", .path = "/x", .timeout_ms = 1000, .max_output = 100};
	const char refusal[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 22\r\n\r\n{\"reason\":\"Forbidden\"}";
	memset(&f, 0, sizeof f);
	f.head_sent = 1; /* answer with the refusal instead of a 101 */
	memcpy(f.in, refusal, sizeof refusal - 1);
	f.in_len = sizeof refusal - 1;
	assert_int_equal(exec_session_run(&s, (struct ws_io){&f, fake_send, fake_recv}), HTTP_ERR_OTHER);
	assert_int_equal(s.hs.status, 403);
	assert_string_equal(s.hs.body, "{\"reason\":\"Forbidden\"}");
	exec_session_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demultiplex_v5_with_stdin),
		cmocka_unit_test(test_v4_has_no_close_signal),
		cmocka_unit_test(test_stdout_to_a_file),
		cmocka_unit_test(test_limits_and_hang),
		cmocka_unit_test(test_refused_upgrade),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
