#ifndef MEDIC_KUBECONFIG_INTERNAL_H
#define MEDIC_KUBECONFIG_INTERNAL_H
#include "k8s/kubeconfig.h"
#include "k8s/kubeconfig_doc.h"

/* kubeconfig.c's entry for kubeconfig_load.c: resolves the context out of the files it found. Calls run one
 * way only: kubeconfig_load.c -> kubeconfig.c -> kubeconfig_doc.c. */
int kc_resolve(struct kc_doc *docs, size_t n, const char *context, struct kubeconfig *kc, char *err, size_t errlen);

#endif
