#ifndef MEDIC_ETCD_ERROR_H
#define MEDIC_ETCD_ERROR_H

/* Classifies an etcd failure into a stable code and says whether the request was definitely not applied.
 * One table serves both transports: the gateway's error body ({"code":N,"message":"..."}, gRPC code and
 * server message) and etcdctl's "Error: <message>" line. The message decides first, because one gRPC code
 * covers both definite and indefinite cases: "unhealthy cluster" (Unavailable) is a rejection before any
 * proposal, "request timed out" (Unavailable too) may still be applied. No Lua in this interface. */

struct etcd_error_class {
	const char *code;   /* "MemberNotFound", "Unhealthy", "NotEnoughStarted", "LearnerNotReady", ... */
	int definite;       /* 1: definitely not applied; 0: may have been applied (re-read before acting) */
};

/* message: the server's or etcdctl's text (may be NULL); grpc_code: the gRPC status code, or -1 if not
 * known; http_status: the HTTP status, or 0 if none (etcdctl). */
struct etcd_error_class etcd_error_classify(const char *message, int grpc_code, long http_status);

#endif
