#ifndef MEDIC_KUBECONFIG_DOC_H
#define MEDIC_KUBECONFIG_DOC_H
#include <stddef.h>
#include <yaml.h>

/* One parsed file: libyaml's document model (aliases are references, never expanded; we only walk known
 * keys to a fixed depth, so cycles and deep nesting cannot run away). The bottom of the kubeconfig units. */
struct kc_doc {
	char *name, *dir;
	yaml_document_t doc;
	int loaded;
};

#define KC_MAX_FILE ((size_t)16 << 20)

int kc_doc_parse(struct kc_doc *d, const char *text, size_t len, char *err, size_t errlen);
void kc_doc_free(struct kc_doc *d);
yaml_node_t *kc_map_get(yaml_document_t *d, yaml_node_t *map, const char *key);
/* The scalar's text, or NULL for a non-scalar or a YAML null. */
const char *kc_scalar(yaml_node_t *n);
/* Reads path (relative to dir unless absolute) of at most max bytes into a new NUL-terminated buffer. */
char *kc_read_file(const char *path, const char *dir, size_t max, size_t *len, char *err, size_t errlen);
char *kc_join(const char *dir, const char *path);
char *kc_strdup(const char *s);

#endif
