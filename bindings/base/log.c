#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"

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

/* {====== redaction. Everything works in place and only shrinks the string, so a fixed buffer is enough. */

/* Overwrites s[from, to) with "[REDACTED]" (or '*'s when shorter); returns the end of the redaction. */
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

static int already_redacted(const char *v)
{
	return strncmp(v, "[REDACTED]", 10) == 0;
}

static int is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* End of a bare credential: up to space, quote, separator or end of line. */
static char *bare_end(char *v)
{
	while (*v && !isspace((unsigned char)*v) && !strchr("\"',;&}])", *v))
		v++;
	return v;
}

/* Past the closing quote of the string starting at q (with backslash escapes), or at the end. */
static char *quoted_end(char *q)
{
	char quote = *q++;

	while (*q && *q != quote)
		q += (*q == '\\' && q[1]) ? 2 : 1;
	return *q ? q + 1 : q;
}

/* Past the matching close of the object/array at v (quoted strings skipped), or at the end. */
static char *balanced_end(char *v)
{
	int depth = 0;

	do {
		if (*v == '"' || *v == '\'') {
			v = quoted_end(v);
			continue;
		}
		depth += (*v == '{' || *v == '[') - (*v == '}' || *v == ']');
		v++;
	} while (*v && depth > 0);
	return v;
}

/* "Bearer xyz", "Basic xyz" (any case): the credential goes, the scheme stays. */
static void redact_schemes(char *s)
{
	static const char *const schemes[] = {"bearer ", "basic "};

	for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
		char *p = s;
		while ((p = strcasestr(p, schemes[i])) != NULL) {
			char *start = p + strlen(schemes[i]);
			while (*start == ' ')
				start++;
			if (already_redacted(start)) {
				p = start + 10;
				continue;
			}
			char *end = bare_end(start);
			p = end > start ? redact_span(start, end) : start;
		}
	}
}

/* "Authorization: <scheme> value" header lines: everything after the scheme word, to the end of line. */
static void redact_authorization(char *s)
{
	char *p = s;

	while ((p = strcasestr(p, "authorization:")) != NULL) {
		char *v = p + 14, *end;
		while (*v == ' ' || *v == '\t')
			v++;
		end = v;
		while (*end && *end != '\r' && *end != '\n' && *end != '"' && *end != '\'')
			end++;
		char *space = memchr(v, ' ', (size_t)(end - v)); /* keep "Bearer"/"Basic": say what kind it was */
		if (space)
			v = space + 1;
		p = end > v ? redact_span(v, end) : v;
	}
}

/* -----BEGIN ... PRIVATE KEY----- blocks, whole (also when cut off by a truncated message). */
static void redact_private_keys(char *s)
{
	char *p = s;

	while ((p = strstr(p, "-----BEGIN")) != NULL) {
		char *label_end = strstr(p + 10, "-----");
		if (!label_end || !memmem(p, (size_t)(label_end - p), "PRIVATE KEY", 11)) {
			p += 10;
			continue;
		}
		char *end = strstr(label_end + 5, "-----END");
		end = end ? strstr(end + 8, "-----") : NULL;
		end = end ? end + 5 : p + strlen(p);
		p = redact_span(p, end);
	}
}

/* The indented lines after "key:" at the end of a line (a YAML block such as a Secret's data:). */
static char *redact_yaml_block(char *line_start, char *eol)
{
	size_t indent = strspn(line_start, " -");
	char *first = eol + 1, *end = first, *q = first;

	while (*q) {
		size_t ind = strspn(q, " ");
		char *next = strchr(q, '\n');
		if (q[ind] != '\n' && q[ind] != '\0' && ind <= indent)
			break;
		end = next ? next : q + strlen(q);
		if (!next)
			break;
		q = next + 1;
	}
	first += strspn(first, " ");
	return end > first ? redact_span(first, end) : eol;
}

/* The value after "key" and its ':' or '=' at v: a quoted string (inside the quotes), an object or array,
** a YAML block, or a bare word. Only objects and blocks for data/stringData: their strings are often not
** secret ("no data: connection refused"). Returns where to continue. */
static char *redact_value(char *s, char *key, char *v, int object_only)
{
	char *eol;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '{' || *v == '[')
		return redact_span(v, balanced_end(v));
	if (*v == '\n' || (*v == '\r' && v[1] == '\n')) {
		char *line = key;
		while (line > s && line[-1] != '\n')
			line--;
		eol = *v == '\r' ? v + 1 : v;
		return redact_yaml_block(line, eol);
	}
	if (object_only)
		return v;
	if (*v == '"' || *v == '\'') {
		char *end = quoted_end(v);
		if (end > v + 1 && end[-1] == *v)
			end--;
		return end > v + 1 ? redact_span(v + 1, end) : end;
	}
	if (already_redacted(v))
		return v + 10;
	char *end = bare_end(v);
	return end > v ? redact_span(v, end) : v;
}

/* key: value, "key": value, key = value, key=value (URL queries), in JSON, YAML, Lua and header forms. */
static void redact_fields(char *s)
{
	static const char *const fields[] = {"token", "password", "client-key-data", "client-key", "access_token",
					     "id_token", "id-token", "refresh_token", "refresh-token", "private_key",
					     "secret", "data", "stringData"};

	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		size_t n = strlen(fields[i]);
		int object_only = strcmp(fields[i], "data") == 0 || strcmp(fields[i], "stringData") == 0;
		char *p = s;
		while ((p = strcasestr(p, fields[i])) != NULL) {
			char *key = p, *v = p + n;
			p = v;
			if ((key > s && is_word_char(key[-1])) || is_word_char(*v))
				continue;
			if (*v == '"' || *v == '\'')
				v++;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v != ':' && *v != '=')
				continue;
			p = redact_value(s, key, v + 1, object_only);
		}
	}
}

char *medic_redact(char *s)
{
	if (!s)
		return s;
	redact_authorization(s);
	redact_schemes(s);
	redact_private_keys(s);
	redact_fields(s);
	return s;
}
/* }====== */
