#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

/* Process-wide by nature: set once by the host before any binding runs. */
static medic_log_sink log_sink;
static void *log_sink_ud;
static enum medic_log_level log_level = MEDIC_LOG_INFO;

void medic_log_set_sink(medic_log_sink sink, void *ud)
{
	log_sink = sink;
	log_sink_ud = ud;
}

void medic_log_set_level(enum medic_log_level level)
{
	log_level = level;
}

int medic_log_enabled(enum medic_log_level level)
{
	return log_sink != NULL && level >= log_level;
}

void medic_log(enum medic_log_level level, const char *topic, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	if (!medic_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_sink(log_sink_ud, level, topic, medic_redact(buf));
}

/* Overwrites s[from, to) with "[REDACTED]" shrinking the string; returns the new end of the redaction. */
static char *redact_span(char *from, char *to)
{
	static const char mark[] = "[REDACTED]";
	size_t marklen = sizeof mark - 1;

	if ((size_t)(to - from) < marklen) {
		memset(from, '*', (size_t)(to - from));
		return to;
	}
	memcpy(from, mark, marklen);
	memmove(from + marklen, to, strlen(to) + 1);
	return from + marklen;
}

static int is_token_char(char c)
{
	return c && c != '"' && c != '\'' && c != ',' && c != ' ' && c != '\r' && c != '\n' && c != '}';
}

/* "Bearer xyz" and "Basic xyz" anywhere: the credential goes. */
static void redact_schemes(char *s)
{
	static const char *const schemes[] = {"Bearer ", "bearer ", "Basic ", "basic "};

	for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
		char *p = s;
		while ((p = strstr(p, schemes[i])) != NULL) {
			char *start = p + strlen(schemes[i]), *end = start;
			while (is_token_char(*end))
				end++;
			p = end > start ? redact_span(start, end) : start;
		}
	}
}

/* -----BEGIN ... PRIVATE KEY----- blocks, whole (also when cut off by a truncated message). */
static void redact_private_keys(char *s)
{
	char *p = s;

	while ((p = strstr(p, "-----BEGIN")) != NULL) {
		char *eol = strstr(p, "-----\n");
		char *label_end = strstr(p + 10, "-----");
		if (!label_end || !memmem(p, (size_t)(label_end - p), "PRIVATE KEY", 11)) {
			p += 10;
			continue;
		}
		char *end = strstr(label_end + 5, "-----END");
		end = end ? strstr(end + 8, "-----") : NULL;
		end = end ? end + 5 : p + strlen(p);
		(void)eol;
		p = redact_span(p, end);
	}
}

/* JSON/YAML fields whose value is a secret: "token": "...", "password": ..., and whole "data"/"stringData"
 * objects of a Secret. */
static void redact_fields(char *s)
{
	static const char *const fields[] = {"\"token\"", "\"password\"", "\"client-key-data\"", "\"access_token\"",
					     "\"data\"", "\"stringData\"", "\"id_token\"", "\"refresh_token\""};

	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		char *p = s;
		while ((p = strstr(p, fields[i])) != NULL) {
			char *v = p + strlen(fields[i]);
			while (*v == ' ' || *v == ':')
				v++;
			char *end = v;
			if (*v == '{') {
				int depth = 0;
				do {
					if (*end == '{') depth++;
					else if (*end == '}') depth--;
					end++;
				} while (*end && depth > 0);
			} else if (*v == '"') {
				end++;
				while (*end && *end != '"')
					end += (*end == '\\' && end[1]) ? 2 : 1;
				if (*end)
					end++;
			} else {
				p = v;
				continue;
			}
			p = end > v ? redact_span(v, end) : v;
		}
	}
}

char *medic_redact(char *s)
{
	if (!s)
		return s;
	redact_schemes(s);
	redact_private_keys(s);
	redact_fields(s);
	return s;
}
