/* Opaque per-platform tokens: what a platform receives instead of a case's
 * identifiers or a victim's hashes.
 *
 *  - The match `ref` of a case image and the `case` grouping token of a
 *    takedown are keyed BLAKE2b-160 (the operator's digest key, keys.h) of a
 *    domain tag, the platform id and the case image / case id, written as 32
 *    lower-case Crockford base32 characters.  Stable for one platform,
 *    unrelated across platforms, and without the key they reveal nothing
 *    (not even which ids are close).
 *  - The match `ref` of a case video is derived the same way under its own
 *    domain tag: image refs and video refs are separate namespaces (a
 *    video's ref never equals an image's, whatever their row ids).
 *  - The bank_content_id of the HMA-compatible lookup (docs/api-hma.md): the
 *    same keyed derivation under its own tags (images and videos apart),
 *    cut to 53 bits so that every JSON parser reads it as an exact integer
 *    (HMA's clients parse it as one), never 0.  Stable for one platform,
 *    unrelated across platforms.
 *  - Takedown list cursors: the last id of a page plus a 64-bit keyed MAC
 *    bound to the platform, 26 base32 characters.  A cursor altered or made
 *    for another platform is refused.
 *
 * Used by sitrd's platform API, its webhook sender and its evidence report.
 * Pure functions: any thread. */
#ifndef SITR_OPAQUE_H
#define SITR_OPAQUE_H

#include <stdint.h>

#include <sitr/keys.h>

#define SITR_OPAQUE_TOKEN_LEN  32 /* ref and case token: 20 bytes in base32 */
#define SITR_OPAQUE_CURSOR_LEN 26 /* 16 bytes in base32 */

void sitr_opaque_ref(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                     int64_t case_image_id, char out[SITR_OPAQUE_TOKEN_LEN + 1]);
void sitr_opaque_video_ref(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                           int64_t case_video_id, char out[SITR_OPAQUE_TOKEN_LEN + 1]);
/* 1 .. 2^53 - 1.  is_video: 0 for a case image, 1 for a case video. */
uint64_t sitr_opaque_content_id(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                                int is_video, int64_t id);
void sitr_opaque_case_token(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                            int64_t case_id, char out[SITR_OPAQUE_TOKEN_LEN + 1]);
void sitr_opaque_cursor_encode(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                               int64_t last_id, char out[SITR_OPAQUE_CURSOR_LEN + 1]);
/* 0 and *last_id, or -1 for anything not made by cursor_encode for this
 * platform and key. */
int sitr_opaque_cursor_decode(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                              const char *s, int64_t *last_id);

#endif
