#ifndef MEDIC_OUTPUT_H
#define MEDIC_OUTPUT_H
#include <stdio.h>
#include "options.h"

/* Where log lines go: stderr (warnings always; debug and info with -v) and the --log-json audit file.
 * Lives in main's frame for the whole run; the log sink and the "medic.host" module point at it. */
struct medic_output {
	const struct medic_options *opts;
	FILE *json; /* --log-json FILE (mode 0600, appended), or NULL */
};

/* Opens --log-json and installs the log sink. Returns 0, or -1 with a message in err. */
int medic_output_open(struct medic_output *out, const struct medic_options *opts, char *err, size_t errlen);
void medic_output_close(struct medic_output *out);
/* One "audit" record in --log-json (fields: encoded JSON or NULL), echoed on stderr with -v. Already redacted. */
void medic_output_audit(struct medic_output *out, const char *topic, const char *msg, const char *fields);
/* True if colour may be used on fd: a terminal, no --no-color, NO_COLOR unset or empty, TERM not "dumb". */
int medic_output_color(const struct medic_options *opts, int fd);

#endif
