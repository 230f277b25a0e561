/* Error classification: recorded gateway bodies (etcd 3.4.23) and etcdctl messages map to stable codes,
 * and only rejections before a proposal count as definitely not applied. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "etcd/etcd_error.h"

static void expect(const char *msg, int grpc, long http, const char *code, int definite)
{
	struct etcd_error_class c = etcd_error_classify(msg, grpc, http);
	assert_string_equal(c.code, code);
	assert_int_equal(c.definite, definite);
}

static void classifies_membership_refusals(void **state)
{
	expect("etcdserver: member not found", 5, 404, "MemberNotFound", 1);
	expect("etcdserver: unhealthy cluster", 14, 503, "Unhealthy", 1);   /* Unavailable, yet definite */
	expect("etcdserver: re-configuration failed due to not enough started members", 9, 400, "NotEnoughStarted", 1);
	expect("etcdserver: can only promote a learner member which is in sync with leader", 9, 400, "LearnerNotReady", 1);
	expect("etcdserver: can only promote a learner member", 9, 400, "NotLearner", 1);
	expect("etcdserver: too many learner members in cluster", 9, 400, "TooManyLearners", 1);
	expect("etcdserver: member ID already exist", 9, 400, "MemberExists", 1);
	expect("etcdserver: Peer URLs already exists", 9, 400, "PeerURLExists", 1);
}

static void timeouts_are_indefinite(void **state)
{
	expect("etcdserver: request timed out", 14, 503, "Timeout", 0);
	expect("etcdserver: request timed out, possibly due to previous leader failure", 14, 503, "Timeout", 0);
	expect("etcdserver: leader changed", 14, 503, "LeaderChanged", 0);
	expect("etcdserver: no leader", 14, 503, "NoLeader", 0);
	expect("context deadline exceeded", -1, 0, "Timeout", 0);   /* etcdctl's --command-timeout */
}

static void etcdctl_messages_without_codes(void **state)
{
	expect("Error: etcdserver: member not found", -1, 0, "MemberNotFound", 1);
	expect("Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex",
	       -1, 0, "InvalidID", 1);
	expect("Error: etcdserver: unhealthy cluster", -1, 0, "Unhealthy", 1);
}

static void falls_back_to_grpc_then_http(void **state)
{
	expect("something new", 9, 400, "FailedPrecondition", 1);
	expect("something new", 14, 503, "Unavailable", 0);
	expect("something new", 4, 504, "Timeout", 0);
	expect("something new", 2, 500, "EtcdError", 0);
	expect(NULL, -1, 404, "NotFound", 1);          /* plain-text "Not Found": wrong path or no gateway */
	expect(NULL, -1, 502, "HTTPError", 0);
	expect(NULL, -1, 0, "EtcdError", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classifies_membership_refusals),
		cmocka_unit_test(timeouts_are_indefinite),
		cmocka_unit_test(etcdctl_messages_without_codes),
		cmocka_unit_test(falls_back_to_grpc_then_http),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
