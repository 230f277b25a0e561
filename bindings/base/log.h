#ifndef MEDIC_LOG_H
#define MEDIC_LOG_H
#include <stddef.h>

/* Logging for the bindings, at the bottom of the layers: a binding calls medic_log(); the host installs
 * the sink that prints (-v) or writes the audit log (--log-json). Every message passes through
 * medic_redact() before any sink sees it, so no binding can leak a secret by forgetting to redact. */

enum medic_log_level { MEDIC_LOG_DEBUG, MEDIC_LOG_INFO, MEDIC_LOG_WARN, MEDIC_LOG_ERROR };

/* topic: a short word naming the source ("http", "exec", "etcd", "node"); msg: already redacted. */
typedef void (*medic_log_sink)(void *ud, enum medic_log_level level, const char *topic, const char *msg);

void medic_log_set_sink(medic_log_sink sink, void *ud);
int medic_log_enabled(enum medic_log_level level);
void medic_log_set_level(enum medic_log_level level);
void medic_log(enum medic_log_level level, const char *topic, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Redacts secrets in place and returns s: bearer tokens and Authorization header values, PEM private
 * key blocks, "token"/"password"/client key fields, and the values of a Secret's "data"/"stringData".
 * The result is never longer than the input. */
char *medic_redact(char *s);

#endif
