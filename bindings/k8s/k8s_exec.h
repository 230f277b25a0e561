#ifndef MEDIC_K8S_EXEC_H
#define MEDIC_K8S_EXEC_H
#include <stddef.h>
#include <stdio.h>
#include "base/http.h"
#include "k8s/websocket.h"

/* One exec session over an established byte transport (internal to k8s_exec.c; cmocka tests drive it
 * with a fake transport): the upgrade handshake, stdin on channel 0 (closed with [255, 0] on v5),
 * channels 1/2/3 gathered into out[1..3] until the server closes, or stdout written to a file as it
 * arrives (any size, constant memory). No Lua here. */
struct exec_out {
	char *data;
	size_t len, cap;
};

struct exec_session {
	const char *host, *path, *auth;   /* Host header, request target, Authorization value or NULL */
	const char *stdin_data;           /* or NULL: stdin not requested */
	size_t stdin_len;
	long timeout_ms;                  /* for the whole session */
	size_t max_output;                /* per channel */
	struct exec_out out[4];           /* by channel: 1 stdout, 2 stderr, 3 the Status */
	FILE *stdout_file;                /* or NULL; when set, stdout goes here instead of out[1] */
	unsigned long long stdout_bytes;  /* written to stdout_file */
	struct ws_conn ws;
	struct ws_handshake hs;           /* hs.status: 101, or the refusal's status and body */
	char errmsg[320];
};

/* HTTP_OK when the server closed after the command; an error with errmsg otherwise (a refused upgrade
 * is HTTP_ERR_OTHER with hs.status and hs.body set). */
enum http_error exec_session_run(struct exec_session *s, struct ws_io io);
void exec_session_free(struct exec_session *s);

#endif
