#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/interrupt.h"
#include "k8s/kubeconfig.h"
#include "k8s/kubeconfig_doc.h"

/* Exec credential plugins (client-go plugin/pkg/client/auth/exec): the plugin gets KUBERNETES_EXEC_INFO,
 * prints an ExecCredential of the same apiVersion on stdout; we keep token or cert/key and the expiry.
 * JSON is a subset of what libyaml reads, so the same parser serves. */

#define PLUGIN_TIMEOUT_MS 60000
#define PLUGIN_MAX_OUTPUT ((size_t)1 << 20)

void kubeconfig_credential_free(struct kc_credential *cred)
{
	if (cred->token)
		memset(cred->token, 0, strlen(cred->token));
	if (cred->key_pem)
		memset(cred->key_pem, 0, strlen(cred->key_pem));
	free(cred->token);
	free(cred->cert_pem);
	free(cred->key_pem);
	memset(cred, 0, sizeof *cred);
}

/* RFC 3339: 2026-11-26T14:15:00Z, with optional fractions and a numeric offset. */
static int parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	int sign = 1, oh = 0, om = 0;

	memset(&tm, 0, sizeof tm);
	if (!(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2) {
		sign = *p == '-' ? -1 : 1;
		p += 6;
	} else
		return -1;
	if (*p)
		return -1;
	*out = timegm(&tm) - sign * (oh * 3600 + om * 60);
	return 0;
}

static int status_str(yaml_document_t *d, yaml_node_t *status, const char *key, char **out)
{
	const char *v = kc_scalar(kc_map_get(d, status, key));
	*out = v && *v ? strdup(v) : NULL;
	return 0;
}

int kubeconfig_exec_parse(const char *text, size_t len, const char *api_version, struct kc_credential *cred,
			  char *err, size_t errlen)
{
	struct kc_doc doc;
	yaml_node_t *root, *status;
	const char *v, *expiry;
	int rc = -1;

	memset(cred, 0, sizeof *cred);
	memset(&doc, 0, sizeof doc);
	doc.name = strdup("exec plugin output");
	if (!doc.name || kc_doc_parse(&doc, text, len, err, errlen) != 0)
		goto out;
	root = yaml_document_get_root_node(&doc.doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "exec plugin: output is not an ExecCredential object");
		goto out;
	}
	v = kc_scalar(kc_map_get(&doc.doc, root, "apiVersion"));
	if (!v || strcmp(v, api_version) != 0) {
		snprintf(err, errlen, "exec plugin: plugin returned version %.60s, expected %.60s", v ? v : "(none)",
			 api_version);
		goto out;
	}
	status = kc_map_get(&doc.doc, root, "status");
	if (!status || status->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "exec plugin didn't return a status field");
		goto out;
	}
	status_str(&doc.doc, status, "token", &cred->token);
	status_str(&doc.doc, status, "clientCertificateData", &cred->cert_pem);
	status_str(&doc.doc, status, "clientKeyData", &cred->key_pem);
	if (!cred->token && !cred->cert_pem && !cred->key_pem) {
		snprintf(err, errlen, "exec plugin didn't return a token or cert/key pair");
		goto out;
	}
	if (!cred->cert_pem != !cred->key_pem) {
		snprintf(err, errlen, "exec plugin returned only certificate or key, not both");
		goto out;
	}
	expiry = kc_scalar(kc_map_get(&doc.doc, status, "expirationTimestamp"));
	if (expiry && parse_time(expiry, &cred->expiry) != 0) {
		snprintf(err, errlen, "exec plugin: bad expirationTimestamp \"%.40s\"", expiry);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		kubeconfig_credential_free(cred);
	kc_doc_free(&doc);
	return rc;
}

/* JSON string literal of s into buf (for KUBERNETES_EXEC_INFO). */
static void json_str(char *buf, size_t n, const char *key, const char *s)
{
	size_t o = strlen(buf);
	if (!s || o + 8 >= n)
		return;
	o += (size_t)snprintf(buf + o, n - o, ",\"%s\":\"", key);
	for (; *s && o + 8 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, n - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(buf + o, n - o, "\\u%04x", c);
		else
			buf[o++] = (char)c;
	}
	snprintf(buf + o, n - o, "\"");
}

static char *exec_info(const struct kubeconfig *kc, int interactive)
{
	size_t n = 4096 + (kc->ca_data_b64 ? strlen(kc->ca_data_b64) : 0);
	char *buf = malloc(n);

	if (!buf)
		return NULL;
	snprintf(buf, n, "{\"kind\":\"ExecCredential\"");
	json_str(buf, n, "apiVersion", kc->exec->api_version);
	snprintf(buf + strlen(buf), n - strlen(buf), ",\"spec\":{\"interactive\":%s", interactive ? "true" : "false");
	if (kc->exec->provide_cluster_info) {
		snprintf(buf + strlen(buf), n - strlen(buf), ",\"cluster\":{\"insecure-skip-tls-verify\":%s",
			 kc->insecure ? "true" : "false");
		json_str(buf, n, "server", kc->server);
		json_str(buf, n, "tls-server-name", kc->tls_server_name);
		json_str(buf, n, "certificate-authority-data", kc->ca_data_b64);
		json_str(buf, n, "proxy-url", kc->proxy_url);
		snprintf(buf + strlen(buf), n - strlen(buf), "}");
	}
	snprintf(buf + strlen(buf), n - strlen(buf), "}}");
	return buf;
}

static void run_child(const struct kc_exec *e, const char *info, int out_fd, int interactive)
{
	char *cmd = strchr(e->command, '/') ? kc_join(e->dir, e->command) : e->command;
	char **argv = calloc(e->nargs + 2, sizeof *argv);

	if (!interactive) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
	}
	dup2(out_fd, 1);
	for (size_t i = 0; i < e->nenv; i++)
		putenv(e->env[i]);
	setenv("KUBERNETES_EXEC_INFO", info, 1);
	if (!argv || !cmd)
		_exit(126);
	argv[0] = cmd;
	for (size_t i = 0; i < e->nargs; i++)
		argv[i + 1] = e->args[i];
	execvp(cmd, argv);
	_exit(127);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the plugin's stdout until EOF, bounded in size and time; -1 with err on a breach. */
static char *read_output(int fd, pid_t pid, size_t *len, char *err, size_t errlen)
{
	char *buf = malloc(PLUGIN_MAX_OUTPUT + 1);
	long deadline = now_ms() + PLUGIN_TIMEOUT_MS;

	*len = 0;
	while (buf) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (medic_interrupted() || now_ms() > deadline || *len == PLUGIN_MAX_OUTPUT) {
			snprintf(err, errlen, "exec plugin: %s", medic_interrupted() ? "interrupted" :
				 *len == PLUGIN_MAX_OUTPUT ? "output larger than 1 MiB" : "no answer within 60 s");
			kill(pid, SIGKILL);
			free(buf);
			return NULL;
		}
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t n = read(fd, buf + *len, PLUGIN_MAX_OUTPUT - *len);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			break;
		if (n > 0)
			*len += (size_t)n;
	}
	if (buf)
		buf[*len] = '\0';
	return buf;
}

int kubeconfig_exec_run(const struct kubeconfig *kc, struct kc_credential *cred, char *err, size_t errlen)
{
	const struct kc_exec *e = kc->exec;
	int interactive = e->interactive_mode && strcmp(e->interactive_mode, "Never") != 0 && isatty(0);
	int fds[2], status = 0;
	char *info = exec_info(kc, interactive), *out;
	size_t len;
	pid_t pid;

	memset(cred, 0, sizeof *cred);
	if (!info || pipe(fds) != 0) {
		free(info);
		snprintf(err, errlen, "exec plugin: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		run_child(e, info, fds[1], interactive);
	}
	close(fds[1]);
	free(info);
	if (pid < 0) {
		close(fds[0]);
		snprintf(err, errlen, "exec plugin: fork: %s", strerror(errno));
		return -1;
	}
	out = read_output(fds[0], pid, &len, err, errlen);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (out && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		snprintf(err, errlen, "exec plugin %.100s %s (exit status %d)%s%.200s", e->command,
			 code == 127 ? "could not be run" : "failed", code, e->install_hint ? ": " : "",
			 e->install_hint ? e->install_hint : "");
		free(out);
		return -1;
	}
	int rc = out ? kubeconfig_exec_parse(out, len, e->api_version, cred, err, errlen) : -1;
	if (out)
		memset(out, 0, len);
	free(out);
	return rc;
}
