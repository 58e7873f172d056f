/* API keys, case secrets and their keyed digests.
 *
 * Secrets are never stored: the database holds only
 * BLAKE2b-256(key = the operator's 32-byte digest key, message = token).
 * The digest key comes from configuration (SITR_DIGEST_KEY as 64 hex
 * digits, or SITR_DIGEST_KEY_FILE), never from the database, so a copy of
 * the database alone cannot be used to test guesses.  Shared by sitrd and
 * sitr-admin. */
#ifndef SITR_KEYS_H
#define SITR_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>
#include <sitr/err_service.h>

#define SITR_KEYS_KEY_BYTES    32
#define SITR_KEYS_DIGEST_BYTES 32
/* "sitr_" + 52 base32 characters (256 random bits) + NUL. */
#define SITR_KEYS_API_KEY_PREFIX "sitr_"
#define SITR_KEYS_API_KEY_SIZE   58

/* out = keyed BLAKE2b-256 of the token's bytes (without its NUL). */
void sitr_keys_digest(const uint8_t key[SITR_KEYS_KEY_BYTES], const char *token,
                      uint8_t out[SITR_KEYS_DIGEST_BYTES]);

/* Writes a fresh API key: "sitr_" then 52 lower-case Crockford base32
 * characters encoding 32 random bytes from libsodium. */
void sitr_keys_new_api_key(char out[SITR_KEYS_API_KEY_SIZE]);

/* Parses exactly 64 hex digits (surrounding whitespace allowed) into key.
 * SITR_ECONFIG on anything else.  A key of all zero bytes is refused. */
SITR_MUST_CHECK int sitr_keys_parse(const char *hex, uint8_t key[SITR_KEYS_KEY_BYTES],
                                    sitr_err_t *err);

/* Reads the key from a file holding 64 hex digits (blocking: use before
 * the event loop runs).  SITR_ECONFIG / SITR_EIO with err filled. */
SITR_MUST_CHECK int sitr_keys_load_file(const char *path, uint8_t key[SITR_KEYS_KEY_BYTES],
                                        sitr_err_t *err);

/* Loads the key from hex (if non-NULL), else from file (if non-NULL), else
 * from the environment: SITR_DIGEST_KEY, then SITR_DIGEST_KEY_FILE.
 * SITR_ECONFIG when none is set. */
SITR_MUST_CHECK int sitr_keys_load(const char *hex, const char *file,
                                   uint8_t key[SITR_KEYS_KEY_BYTES], sitr_err_t *err);

#endif
