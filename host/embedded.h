#ifndef MEDIC_EMBEDDED_H
#define MEDIC_EMBEDDED_H
#include <stddef.h>

/* The shipped scripts, compiled in by host/embedgen.c. Names are relative to scripts/,
 * e.g. "replace-crashlooping-member.lua", "medic/procedure.lua". The table ends with a NULL name. */
struct embedded_file {
	const char *name;
	const char *data;
	size_t size;
};

extern const struct embedded_file embedded_files[];

#endif
