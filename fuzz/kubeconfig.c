/* libFuzzer target: the kubeconfig parser and the ExecCredential parser on arbitrary bytes.
 * Build and run with `make fuzz` (bounded by FUZZ_SECONDS). */
#include <stddef.h>
#include <stdint.h>
#include "k8s/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubeconfig kc;
	struct kc_credential cred;
	char err[512];

	/* a directory that does not exist: file references fail cleanly instead of reading the machine */
	if (kubeconfig_parse((const char *)data, size, "fuzz", "/nonexistent-medic-fuzz", NULL, &kc, err,
			     sizeof err) == 0)
		kubeconfig_free(&kc);
	if (kubeconfig_exec_parse((const char *)data, size, "client.authentication.k8s.io/v1", &cred, err,
				  sizeof err) == 0)
		kubeconfig_credential_free(&cred);
	return 0;
}
