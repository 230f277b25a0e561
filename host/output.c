/* The log sink: one path for log and audit lines (redacted by bindings/base/log.c) to stderr and --log-json,
 * and whether a stream may be coloured. No Lua here: medic.host (host.c) is the scripts' face of it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"
#include "output.h"

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

int medic_output_color(const struct medic_options *opts, int fd)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	if (opts->no_color || (no_color && *no_color) || (term && strcmp(term, "dumb") == 0))
		return 0;
	return isatty(fd);
}

static void put_json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* One audit record: {"time":..., "level":..., "topic":..., "msg":...[, "fields":{...}]}. fields is
 * already-encoded JSON text (redacted by the caller) or NULL. */
static void write_json_line(FILE *f, const char *level, const char *topic, const char *msg, const char *fields)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"topic\":", when, ts.tv_nsec / 1000000, level);
	put_json_string(f, topic ? topic : "");
	fputs(",\"msg\":", f);
	put_json_string(f, msg);
	if (fields)
		fprintf(f, ",\"fields\":%s", fields);
	fputs("}\n", f);
	fflush(f);
}

static void print_line(const struct medic_options *opts, const char *level, const char *topic, const char *msg)
{
	int color = medic_output_color(opts, STDERR_FILENO);

	fprintf(stderr, "%s[%s] %s: %s%s\n", color ? "\033[2m" : "", level, topic ? topic : "-", msg,
		color ? "\033[0m" : "");
}

/* The sink for medic_log: msg is already redacted. */
static void sink(void *ud, enum medic_log_level level, const char *topic, const char *msg)
{
	struct medic_output *out = ud;

	if (out->json)
		write_json_line(out->json, level_names[level], topic, msg, NULL);
	if (level >= MEDIC_LOG_WARN || out->opts->verbose)
		print_line(out->opts, level_names[level], topic, msg);
}

int medic_output_open(struct medic_output *out, const struct medic_options *opts, char *err, size_t errlen)
{
	out->opts = opts;
	out->json = NULL;
	if (opts->log_json) {
		int fd = open(opts->log_json, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || !(out->json = fdopen(fd, "a"))) {
			snprintf(err, errlen, "cannot open --log-json %s: %s", opts->log_json, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		fchmod(fd, 0600); /* an audit log may name members and secrets: never world-readable */
	}
	medic_log_set_level(opts->verbose || out->json ? MEDIC_LOG_DEBUG : MEDIC_LOG_WARN);
	medic_log_set_sink(sink, out);
	return 0;
}

void medic_output_close(struct medic_output *out)
{
	medic_log_set_sink(NULL, NULL);
	if (out->json)
		fclose(out->json);
	out->json = NULL;
}

void medic_output_audit(struct medic_output *out, const char *topic, const char *msg, const char *fields)
{
	if (out->json)
		write_json_line(out->json, "audit", topic, msg, fields);
	if (out->opts->verbose)
		print_line(out->opts, "audit", topic, msg);
}
