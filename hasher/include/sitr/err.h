/* Error codes of the hashing library, and the error type every sitr
 * component uses.
 *
 * Fallible functions return 0 or a negative SITR_E* code.  Where a human
 * explanation is useful the callee also fills a sitr_err_t, once, at the
 * place the problem is detected; callers only pass the code up.
 *
 * This header is installed with libsitrhash and lists only the codes its
 * functions can return.  The programs' own codes (database, network,
 * configuration) live in common/include/sitr/err_service.h, numbered from
 * -101 so that appending to either list never renumbers the other.
 * sitr_strerror and sitr_err_set are implemented in common/err.c. */
#ifndef SITR_ERR_H
#define SITR_ERR_H

#include <stddef.h>

#if defined(__GNUC__)
#define SITR_MUST_CHECK __attribute__((warn_unused_result))
#else
#define SITR_MUST_CHECK
#endif

/* name, message.  Append only: codes are -(index + 1). */
#define SITR_ERRNO_MAP(X)                                                                          \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(IO, "input/output error")                                                                    \
    X(NOENT, "no such file or directory")                                                          \
    X(ISDIR, "is a directory")                                                                     \
    X(LOOP, "too many levels of symbolic links")                                                   \
    X(TOOBIG, "input exceeds a configured limit")                                                  \
    X(EMPTY, "empty input")                                                                        \
    X(FORMAT, "unsupported or unrecognised image format")                                          \
    X(CORRUPT, "corrupt or truncated image")                                                       \
    X(TOOSMALL, "image too small to hash")                                                         \
    X(HEX, "malformed hexadecimal")                                                                \
    X(QUALITY, "PDQ quality below the matching minimum")                                           \
    X(INTERNAL, "internal error")                                                                  \
    X(CANCELED, "canceled")                                                                        \
    X(NOVIDEO, "no decodable video stream")                                                        \
    X(CODEC, "unsupported video container or codec")                                               \
    X(BADVIDEO, "corrupt or truncated video")                                                      \
    X(SMALLVIDEO, "video frames too small to hash")

enum { SITR_OK = 0 };

/* Index of each code in the list, from 0; the code is -(index + 1). */
enum {
#define SITR_ERR_ENUM_(name, msg) SITR_ERR_IDX_##name,
    SITR_ERRNO_MAP(SITR_ERR_ENUM_)
#undef SITR_ERR_ENUM_
        SITR_ERR_COUNT_
};

#define SITR_ERR_ENUM2_(name, msg) SITR_E##name = -(SITR_ERR_IDX_##name + 1),
enum { SITR_ERRNO_MAP(SITR_ERR_ENUM2_) };
#undef SITR_ERR_ENUM2_

/* A detailed error: the code plus a sentence for humans.  Never contains a
 * hash, secret or key. */
typedef struct sitr_err {
    int code;
    char msg[256];
} sitr_err_t;

/* Static message for a code (never NULL, "unknown error" for unknown codes). */
const char *sitr_strerror(int code);

/* Returns code after filling err (if non-NULL) with code and a printf message. */
int sitr_err_set(sitr_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
