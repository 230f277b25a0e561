#include <stddef.h>
#include <string.h>
#include "base/errors.h"
#include "etcd/etcd_error.h"

/* Known server messages (api/v3rpc/rpctypes/error.go), most specific first: "can only promote a learner
 * member which is in sync with leader" must win over "can only promote a learner member". */
static const struct {
	const char *text;
	struct etcd_error_class cls;
} known_messages[] = {
	{"member not found", {MEDIC_E_MEMBER_NOT_FOUND, 1}},
	{"unhealthy cluster", {MEDIC_E_UNHEALTHY, 1}},
	{"not enough started members", {MEDIC_E_NOT_ENOUGH_STARTED, 1}},
	{"in sync with leader", {MEDIC_E_LEARNER_NOT_READY, 1}},
	{"can only promote a learner member", {MEDIC_E_NOT_LEARNER, 1}},
	{"too many learner members", {MEDIC_E_TOO_MANY_LEARNERS, 1}},
	{"member ID already exist", {MEDIC_E_MEMBER_EXISTS, 1}},
	{"Peer URLs already exists", {MEDIC_E_PEER_URL_EXISTS, 1}},
	{"bad member ID arg", {MEDIC_E_INVALID_ID, 1}},
	{"too many requests", {MEDIC_E_TOO_MANY_REQUESTS, 1}},
	{"database space exceeded", {MEDIC_E_NO_SPACE, 1}},
	{"permission denied", {MEDIC_E_FORBIDDEN, 1}},
	{"user name is empty", {MEDIC_E_UNAUTHORIZED, 1}},
	{"invalid auth token", {MEDIC_E_UNAUTHORIZED, 1}},
	{"request timed out", {MEDIC_E_TIMEOUT, 0}},
	{"context deadline exceeded", {MEDIC_E_TIMEOUT, 0}},
	{"leader changed", {MEDIC_E_LEADER_CHANGED, 0}},
	{"no leader", {MEDIC_E_NO_LEADER, 0}},
	{"connection refused", {MEDIC_E_CONNECT_FAILED, 1}},
	{"certificate", {MEDIC_E_TLS, 1}},
	{"context canceled", {MEDIC_E_INTERRUPTED, 0}},
};

/* gRPC codes when the message is not one we know (google.golang.org/grpc/codes). */
static struct etcd_error_class by_grpc_code(int code)
{
	switch (code) {
	case 3: return (struct etcd_error_class){MEDIC_E_INVALID_ARGUMENT, 1};
	case 4: return (struct etcd_error_class){MEDIC_E_TIMEOUT, 0};
	case 5: return (struct etcd_error_class){MEDIC_E_NOT_FOUND, 1};
	case 6: return (struct etcd_error_class){MEDIC_E_ALREADY_EXISTS, 1};
	case 7: return (struct etcd_error_class){MEDIC_E_FORBIDDEN, 1};
	case 8: return (struct etcd_error_class){MEDIC_E_TOO_MANY_REQUESTS, 1};
	case 9: return (struct etcd_error_class){MEDIC_E_FAILED_PRECONDITION, 1};
	case 12: return (struct etcd_error_class){MEDIC_E_UNIMPLEMENTED, 1};
	case 14: return (struct etcd_error_class){MEDIC_E_UNAVAILABLE, 0};
	case 16: return (struct etcd_error_class){MEDIC_E_UNAUTHORIZED, 1};
	default: return (struct etcd_error_class){MEDIC_E_ETCD_ERROR, 0};
	}
}

/* No JSON error body: a plain-text answer (wrong path, a proxy) or an unparsable one. */
static struct etcd_error_class by_http_status(long status)
{
	if (status == 401)
		return (struct etcd_error_class){MEDIC_E_UNAUTHORIZED, 1};
	if (status == 403)
		return (struct etcd_error_class){MEDIC_E_FORBIDDEN, 1};
	if (status == 404)
		return (struct etcd_error_class){MEDIC_E_NOT_FOUND, 1};
	if (status == 429)
		return (struct etcd_error_class){MEDIC_E_TOO_MANY_REQUESTS, 1};
	if (status >= 400 && status < 500)
		return (struct etcd_error_class){MEDIC_E_HTTP_ERROR, 1};
	return (struct etcd_error_class){MEDIC_E_HTTP_ERROR, 0};
}

struct etcd_error_class etcd_error_classify(const char *message, int grpc_code, long http_status)
{
	size_t n = sizeof known_messages / sizeof known_messages[0];
	for (size_t i = 0; message != NULL && i < n; i++)
		if (strstr(message, known_messages[i].text) != NULL)
			return known_messages[i].cls;
	if (grpc_code >= 0)
		return by_grpc_code(grpc_code);
	if (http_status > 0)
		return by_http_status(http_status);
	return (struct etcd_error_class){MEDIC_E_ETCD_ERROR, 0};
}
