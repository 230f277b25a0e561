#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "k8s/kubeconfig_doc.h"

/* The parsed YAML documents and the files behind them, for kubeconfig.c (resolving a context),
 * kubeconfig_load.c (which files) and kubeconfig_exec.c (an ExecCredential); it calls none of them. */

char *kc_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int kc_doc_parse(struct kc_doc *d, const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t p;
	int ok;

	if (len > KC_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %zu bytes", d->name, KC_MAX_FILE);
		return -1;
	}
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "%s: out of memory", d->name);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	ok = yaml_parser_load(&p, &d->doc);
	if (!ok)
		snprintf(err, errlen, "%s: line %zu: not valid YAML: %s", d->name, p.problem_mark.line + 1,
			 p.problem ? p.problem : "parse error");
	yaml_parser_delete(&p);
	d->loaded = ok;
	return ok ? 0 : -1;
}

void kc_doc_free(struct kc_doc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	d->loaded = 0;
	free(d->name);
	free(d->dir);
	d->name = d->dir = NULL;
}

yaml_node_t *kc_map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

const char *kc_scalar(yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *v = (const char *)n->data.scalar.value;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (v[0] == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0))
		return NULL;
	if (strlen(v) != n->data.scalar.length)
		return NULL; /* an embedded NUL: never a valid name, path or credential */
	return v;
}

char *kc_join(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !*dir)
		return strdup(path);
	size_t n = strlen(dir) + strlen(path) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", dir, path);
	return s;
}

char *kc_read_file(const char *path, const char *dir, size_t max, size_t *len, char *err, size_t errlen)
{
	char *full = kc_join(dir, path), *buf = NULL;
	FILE *f = full ? fopen(full, "rb") : NULL;
	struct stat st;

	if (!f) {
		snprintf(err, errlen, "cannot read %.200s: %s", full ? full : path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		snprintf(err, errlen, "cannot read %.200s: not a regular file under %zu bytes", full, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	*len = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	if (buf)
		buf[*len] = '\0';
	else
		snprintf(err, errlen, "out of memory");
out:
	if (f)
		fclose(f);
	free(full);
	return buf;
}
