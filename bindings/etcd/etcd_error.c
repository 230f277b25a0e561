#include <stddef.h>
#include <string.h>
#include "etcd/etcd_error.h"

/* Known server messages (api/v3rpc/rpctypes/error.go), most specific first: "can only promote a learner
 * member which is in sync with leader" must win over "can only promote a learner member". */
static const struct {
	const char *text;
	struct etcd_error_class cls;
} known_messages[] = {
	{"member not found", {"MemberNotFound", 1}},
	{"unhealthy cluster", {"Unhealthy", 1}},
	{"not enough started members", {"NotEnoughStarted", 1}},
	{"in sync with leader", {"LearnerNotReady", 1}},
	{"can only promote a learner member", {"NotLearner", 1}},
	{"too many learner members", {"TooManyLearners", 1}},
	{"member ID already exist", {"MemberExists", 1}},
	{"Peer URLs already exists", {"PeerURLExists", 1}},
	{"bad member ID arg", {"InvalidID", 1}},
	{"too many requests", {"TooManyRequests", 1}},
	{"database space exceeded", {"NoSpace", 1}},
	{"permission denied", {"Forbidden", 1}},
	{"user name is empty", {"Unauthorized", 1}},
	{"invalid auth token", {"Unauthorized", 1}},
	{"request timed out", {"Timeout", 0}},
	{"context deadline exceeded", {"Timeout", 0}},
	{"leader changed", {"LeaderChanged", 0}},
	{"no leader", {"NoLeader", 0}},
	{"connection refused", {"ConnectFailed", 1}},
	{"certificate", {"TLS", 1}},
	{"context canceled", {"Interrupted", 0}},
};

/* gRPC codes when the message is not one we know (google.golang.org/grpc/codes). */
static struct etcd_error_class by_grpc_code(int code)
{
	switch (code) {
	case 3: return (struct etcd_error_class){"InvalidArgument", 1};
	case 4: return (struct etcd_error_class){"Timeout", 0};
	case 5: return (struct etcd_error_class){"NotFound", 1};
	case 6: return (struct etcd_error_class){"AlreadyExists", 1};
	case 7: return (struct etcd_error_class){"Forbidden", 1};
	case 8: return (struct etcd_error_class){"TooManyRequests", 1};
	case 9: return (struct etcd_error_class){"FailedPrecondition", 1};
	case 12: return (struct etcd_error_class){"Unimplemented", 1};
	case 14: return (struct etcd_error_class){"Unavailable", 0};
	case 16: return (struct etcd_error_class){"Unauthorized", 1};
	default: return (struct etcd_error_class){"EtcdError", 0};
	}
}

/* No JSON error body: a plain-text answer (wrong path, a proxy) or an unparsable one. */
static struct etcd_error_class by_http_status(long status)
{
	if (status == 401)
		return (struct etcd_error_class){"Unauthorized", 1};
	if (status == 403)
		return (struct etcd_error_class){"Forbidden", 1};
	if (status == 404)
		return (struct etcd_error_class){"NotFound", 1};
	if (status == 429)
		return (struct etcd_error_class){"TooManyRequests", 1};
	if (status >= 400 && status < 500)
		return (struct etcd_error_class){"HTTPError", 1};
	return (struct etcd_error_class){"HTTPError", 0};
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
	return (struct etcd_error_class){"EtcdError", 0};
}
