/* Signed evidence reports (docs/SECURITY.md "Signed reports").
 *
 * The operator's Ed25519 key signs every report sitrd gives out; anyone
 * with the operator's public key can check that a report is genuine and
 * unmodified: `sitr report verify`, the page at /verify, or any tool that
 * follows the definition below.
 *
 * What is signed: the report's JSON object without its "signature" member,
 * in the JSON Canonicalization Scheme (RFC 8785, "JCS": no whitespace,
 * members sorted by their names' UTF-16 code units, strings with the
 * shortest escapes, numbers as ECMAScript prints them), as UTF-8 bytes.
 * The "signature" member holds {"alg": "Ed25519", "key_id", "public_key"
 * (base64 of the 32-byte key), "value" (base64 of the 64-byte signature),
 * "code"}.  key_id is the first 16 hex digits of SHA-256(public key); code
 * is the short verification code printed on the report: the first 60 bits
 * of SHA-256(signature) in Crockford base32, as XXXX-XXXX-XXXX.
 *
 * The key file holds the 32-byte seed as 64 hex digits and a newline;
 * mode 0600, refused when group or others may read it.  Shared by sitrd
 * (signing), sitr (verifying) and sitr-admin (the key). */
#ifndef SITR_REPORT_SIGN_H
#define SITR_REPORT_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <sitr/err.h>
#include <sitr/err_service.h>

#define SITR_SIGN_PK_BYTES  32
#define SITR_SIGN_SK_BYTES  64
#define SITR_SIGN_SIG_BYTES 64
#define SITR_SIGN_KEY_ID    17 /* 16 hex digits + NUL */
#define SITR_SIGN_CODE      15 /* XXXX-XXXX-XXXX + NUL */
#define SITR_SIGN_PK_B64    45 /* base64 of 32 bytes + NUL */

typedef struct sitr_sign_key {
    uint8_t sk[SITR_SIGN_SK_BYTES];
    uint8_t pk[SITR_SIGN_PK_BYTES];
} sitr_sign_key_t;

/* v in RFC 8785 form: a malloc'd NUL-terminated string of *len bytes the
 * caller frees, or NULL (out of memory, or a number JCS cannot write). */
char *sitr_jcs(const json_t *v, size_t *len);

/* Reads the key file (blocking).  SITR_ECONFIG / SITR_EIO with err filled;
 * key is wiped on failure.  Wipe it with sitr_sign_key_wipe. */
SITR_MUST_CHECK int sitr_sign_key_load(const char *path, sitr_sign_key_t *key, sitr_err_t *err);

/* Creates path (which must not exist) with mode 0600 holding a new seed;
 * key gets the new pair.  SITR_EIO / SITR_ECONFIG with err filled. */
SITR_MUST_CHECK int sitr_sign_key_create(const char *path, sitr_sign_key_t *key, sitr_err_t *err);

void sitr_sign_key_wipe(sitr_sign_key_t *key);

void sitr_sign_key_id(const uint8_t pk[SITR_SIGN_PK_BYTES], char out[SITR_SIGN_KEY_ID]);
void sitr_sign_pk_base64(const uint8_t pk[SITR_SIGN_PK_BYTES], char out[SITR_SIGN_PK_B64]);
/* 0, or SITR_EINVAL when b64 is not 32 bytes of base64. */
SITR_MUST_CHECK int sitr_sign_pk_parse(const char *b64, uint8_t pk[SITR_SIGN_PK_BYTES]);

/* Adds the "signature" member to report (replacing one).  0, SITR_ENOMEM,
 * or SITR_EINVAL when the report cannot be canonicalised. */
SITR_MUST_CHECK int sitr_report_sign(json_t *report, const sitr_sign_key_t *key);

/* Why a report is or is not genuine (sitr_report_check). */
typedef enum sitr_report_verdict {
    SITR_REPORT_GENUINE = 0,
    SITR_REPORT_UNSIGNED,   /* no "signature" member */
    SITR_REPORT_MALFORMED,  /* the signature member cannot be read */
    SITR_REPORT_OTHER_KEY,  /* signed with a key other than the pinned one */
    SITR_REPORT_UNREADABLE, /* the report cannot be canonicalised */
    SITR_REPORT_CHANGED     /* the signature does not match the data */
} sitr_report_verdict_t;

/* Checks a signed report and says why it is or is not genuine, for
 * callers that word the verdict themselves (`sitr report verify` in the
 * user's language).  pinned, key_id and code as for sitr_report_verify. */
sitr_report_verdict_t sitr_report_check(const json_t *report, const uint8_t *pinned,
                                        char key_id[SITR_SIGN_KEY_ID], char code[SITR_SIGN_CODE]);

/* Checks a signed report.  pinned: the operator's public key to require,
 * or NULL to check against the key the report names (then compare key_id
 * with the operator's published one).  0 when genuine; SITR_EINVAL with
 * err saying why not (no signature, malformed, wrong key, altered).
 * key_id and code are filled when the signature member is readable. */
SITR_MUST_CHECK int sitr_report_verify(const json_t *report, const uint8_t *pinned,
                                       char key_id[SITR_SIGN_KEY_ID], char code[SITR_SIGN_CODE],
                                       sitr_err_t *err);

#endif
