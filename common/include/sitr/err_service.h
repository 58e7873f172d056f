/* Error codes of the sitr programs beyond the hashing library's: the
 * database, the network, protocols, configuration.  Used by sitrd,
 * sitr-admin and the `sitr case` client; not installed (the hashing
 * library never returns them).
 *
 * Codes are -(SITR_ERR_SERVICE_BASE + index + 1): a range of their own, so
 * that appending to this list or to sitr/err.h never renumbers the other.
 * sitr_strerror (sitr/err.h) knows both lists. */
#ifndef SITR_ERR_SERVICE_H
#define SITR_ERR_SERVICE_H

#include <sitr/err.h>

#define SITR_ERR_SERVICE_BASE 100

/* name, message.  Append only. */
#define SITR_ERRNO_SERVICE_MAP(X)                                                                  \
    X(DB, "database error")                                                                        \
    X(TIMEOUT, "timed out")                                                                        \
    X(BUSY, "too many requests in flight")                                                         \
    X(SCHEMA, "database schema is not current")                                                    \
    X(NOTFOUND, "not found")                                                                       \
    X(AUTH, "authentication failed")                                                               \
    X(CONFLICT, "conflicting state")                                                               \
    X(PROTO, "protocol error")                                                                     \
    X(CLOSED, "connection closed")                                                                 \
    X(CONFIG, "invalid configuration")                                                             \
    X(REFUSED, "the database refused the statement's data")                                        \
    X(UNAVAIL, "database unreachable")

enum {
#define SITR_ERR_SVC_ENUM_(name, msg) SITR_ERR_SVC_IDX_##name,
    SITR_ERRNO_SERVICE_MAP(SITR_ERR_SVC_ENUM_)
#undef SITR_ERR_SVC_ENUM_
        SITR_ERR_SERVICE_COUNT_
};

#define SITR_ERR_SVC_ENUM2_(name, msg)                                                             \
    SITR_E##name = -(SITR_ERR_SERVICE_BASE + SITR_ERR_SVC_IDX_##name + 1),
enum { SITR_ERRNO_SERVICE_MAP(SITR_ERR_SVC_ENUM2_) };
#undef SITR_ERR_SVC_ENUM2_

#endif
