#ifndef MEDIC_ERRORS_H
#define MEDIC_ERRORS_H

/* The stable codes of `nil, message, code`: the one list in C, so that a binding cannot invent a spelling.
 * Meanings, the modules that return each, and what a caller should do: docs/errors.md (keep both in step).
 * Codes the Lua halves add (BadResponse, CommandFailed, ...) and Kubernetes Status reasons passed through
 * (Conflict, Expired, Invalid, ...) are listed there too. */

/* Arguments and configuration */
#define MEDIC_E_INVALID_ARGUMENT   "InvalidArgument"    /* a bad value: path, name, request field */
#define MEDIC_E_INVALID_CONFIG     "InvalidConfig"      /* kubeconfig, certificates, options unusable */
#define MEDIC_E_INVALID_ID         "InvalidID"          /* not an etcd member ID */

/* Transport (bindings/base/http.c) */
#define MEDIC_E_CONNECT_FAILED     "ConnectFailed"      /* nothing was sent */
#define MEDIC_E_TLS                "TLS"
#define MEDIC_E_TIMEOUT            "Timeout"
#define MEDIC_E_CONNECTION_LOST    "ConnectionLost"     /* after the request was sent: it may have acted */
#define MEDIC_E_TOO_LARGE          "TooLarge"
#define MEDIC_E_INTERRUPTED        "Interrupted"        /* Ctrl-C */
#define MEDIC_E_ABORTED            "Aborted"            /* a callback stopped the transfer */
#define MEDIC_E_HTTP_ERROR         "HTTPError"          /* an HTTP status with no better name */

/* Answers of a server */
#define MEDIC_E_UNAUTHORIZED       "Unauthorized"
#define MEDIC_E_FORBIDDEN          "Forbidden"
#define MEDIC_E_NOT_FOUND          "NotFound"
#define MEDIC_E_ALREADY_EXISTS     "AlreadyExists"
#define MEDIC_E_TOO_MANY_REQUESTS  "TooManyRequests"
#define MEDIC_E_UNAVAILABLE        "Unavailable"
#define MEDIC_E_FAILED_PRECONDITION "FailedPrecondition"
#define MEDIC_E_UNIMPLEMENTED      "Unimplemented"

/* etcd (bindings/etcd/etcd_error.c) */
#define MEDIC_E_MEMBER_NOT_FOUND   "MemberNotFound"
#define MEDIC_E_MEMBER_EXISTS      "MemberExists"
#define MEDIC_E_PEER_URL_EXISTS    "PeerURLExists"
#define MEDIC_E_UNHEALTHY          "Unhealthy"
#define MEDIC_E_NOT_ENOUGH_STARTED "NotEnoughStarted"
#define MEDIC_E_LEARNER_NOT_READY  "LearnerNotReady"
#define MEDIC_E_NOT_LEARNER        "NotLearner"
#define MEDIC_E_TOO_MANY_LEARNERS  "TooManyLearners"
#define MEDIC_E_LEADER_CHANGED     "LeaderChanged"
#define MEDIC_E_NO_LEADER          "NoLeader"
#define MEDIC_E_SNAPSHOT_FAILED    "SnapshotFailed"
#define MEDIC_E_ETCD_ERROR         "EtcdError"          /* an etcd error with no better name */

/* Files on the node (bindings/node/fsroot.c) */
#define MEDIC_E_PERMISSION         "Permission"
#define MEDIC_E_NOT_A_DIRECTORY    "NotADirectory"
#define MEDIC_E_IS_A_DIRECTORY     "IsADirectory"
#define MEDIC_E_NO_SPACE           "NoSpace"
#define MEDIC_E_READ_ONLY          "ReadOnly"
#define MEDIC_E_BUSY               "Busy"
#define MEDIC_E_UNSUPPORTED        "Unsupported"
#define MEDIC_E_VERIFY_FAILED      "VerifyFailed"
#define MEDIC_E_SOURCE_NOT_REMOVED "SourceNotRemoved"
#define MEDIC_E_IO_ERROR           "IOError"

#endif
