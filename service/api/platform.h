/* The platforms' API (DESIGN.md "API", issue 4): the pure parts shared by
 * api_match.c, api_uploads.c and api_takedowns.c, kept free of the event
 * loop so that unit tests exercise them directly.
 *
 *  - Request validation for POST /v1/match, POST /v1/uploads, GET and POST
 *    /v1/takedowns: every fault is a 422 with a stable code and the JSON
 *    path of the faulty member ("items[3].md5"); messages name the rule,
 *    never the value (values are hashes or a platform's identifiers).
 *  - Takedown list cursors (made and checked by sitr/opaque.h): a cursor
 *    altered or made for another platform is refused (422 invalid_cursor).
 *  - The per-item match: PDQ search with the threshold as radius (only when
 *    the query's quality is >= 50), exact MD5/SHA-256 lookups, one result per
 *    case image (its best signal); for a whole request, the same answers
 *    with the PDQ searches batched.
 *
 * Pure functions (the search reads thread-safe indexes): any thread. */
#ifndef SITR_API_PLATFORM_H
#define SITR_API_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include <sitr/keys.h>

#include "api/videos_json.h"

#define SITR_PLATFORM_ID_MAX       256  /* a platform's content id, characters */
#define SITR_PLATFORM_URL_MAX      2048 /* bytes */
#define SITR_PLATFORM_NOTE_MAX     1000 /* characters */
#define SITR_PLATFORM_LIST_DEFAULT 100
#define SITR_PLATFORM_LIST_MAX     1000
/* Case images reported per /v1/match item (the closest ones).  A genuine
 * upload matches one or a few case images; more hints at a featureless or
 * poisoned hash, and the answer says "more":true. */
#define SITR_PLATFORM_MAX_MATCHES 50
#define SITR_PLATFORM_MIN_QUALITY 50

typedef struct sitr_platform_error {
    const char *code; /* stable snake_case, static */
    char message[160];
    char field[128]; /* JSON path or query parameter; "" for the whole body */
} sitr_platform_error_t;

/* ---- POST /v1/match ------------------------------------------------------ */

typedef struct sitr_match_item {
    uint8_t pdq[32], md5[16], sha256[32];
    int quality; /* -1 without a PDQ */
    unsigned has_pdq : 1, has_md5 : 1, has_sha256 : 1;
    unsigned pdq_low_quality : 1; /* has_pdq but quality < 50: never searched */
    unsigned is_video : 1;        /* a video item: no hash here, see the videos array */
} sitr_match_item_t;

/* body: {"items":[{"pdq","quality","md5","sha256"}, ...]} and nothing else;
 * 1..max_items items; each at least one hash; "quality" required with and
 * only with "pdq"; null counts as absent.  On success returns 0 and *items
 * (malloc, caller frees) with *n entries; on a fault -1 with err filled
 * (code "internal" on allocation failure). */
int sitr_platform_parse_match(const json_t *body, size_t max_items, sitr_match_item_t **items,
                              size_t *n, sitr_platform_error_t *err);

/* The same with video items (issue 9) when vlim is not NULL: an item may be
 * {"video":{...}} (videos_json.h, SITR_VIDEO_QUERY: frames of t, pdq,
 * quality, optional n and trimmed; the video's md5/sha256 inside it) and
 * nothing else; its sitr_match_item_t has is_video set and no hash, and
 * (*videos)[i] holds it (*videos: n entries, only video items filled;
 * release with sitr_platform_videos_free).  Frames are bounded per video
 * (vlim->max_frames) and over the request (vlim->max_total_frames, counted
 * before any is parsed). */
int sitr_platform_parse_match_v(const json_t *body, size_t max_items,
                                const sitr_videos_limits_t *vlim, sitr_match_item_t **items,
                                sitr_video_in_t **videos, size_t *n, sitr_platform_error_t *err);
void sitr_platform_videos_free(sitr_video_in_t *videos, size_t n);

/* ---- POST /v1/uploads ---------------------------------------------------- */

typedef struct sitr_uploads {
    json_t *uploads;        /* normalised array for sitr_uploads_report (owned) */
    unsigned char *ignored; /* per upload: 1 when its PDQ was dropped (quality < 50) */
    size_t count;
} sitr_uploads_t;

/* body: {"uploads":[{"id","url","pdq","quality","md5","sha256"}, ...]},
 * 1..max_items uploads.  id: string of 1..256 characters without control
 * characters, unique within the request; url: optional http(s) URL of at
 * most 2048 bytes without spaces or control characters.  A PDQ of quality
 * < 50 is dropped (its digests are kept); an upload left with no hash is a
 * fault (pdq_quality_too_low).  Normalised items carry lower-case hex and
 * only present members.  0, or -1 with err filled. */
int sitr_platform_parse_uploads(const json_t *body, size_t max_items, sitr_uploads_t *out,
                                sitr_platform_error_t *err);

/* The same with video uploads when vlim is not NULL: an element may be
 * {"id","url","video":{...}} (a query video, videos_json.h), normalised to
 * {"id","url","frames": packed hex of its plain hashes of quality >= 50
 * (null when none), "duration","md5","sha256"} for sitr_uploads_report;
 * ignored[i] is 1 when no frame was usable (the digests are kept). */
int sitr_platform_parse_uploads_v(const json_t *body, size_t max_items,
                                  const sitr_videos_limits_t *vlim, sitr_uploads_t *out,
                                  sitr_platform_error_t *err);
void sitr_platform_uploads_clear(sitr_uploads_t *u);

/* A content id as it arrives in a path (DELETE /v1/uploads/{id}): the same
 * rules as in the body.  1 when acceptable. */
int sitr_platform_valid_content_id(const char *s, size_t len);

/* ---- GET/POST /v1/takedowns ---------------------------------------------- */

typedef struct sitr_takedown_query {
    const char *status; /* NULL = every status; else a static string */
    int64_t after;      /* 0 = from the start */
    unsigned limit;
} sitr_takedown_query_t;

/* Query parameters as decoded strings (NULL when absent). */
int sitr_platform_parse_takedown_query(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                                       const char *status, const char *after, const char *limit,
                                       sitr_takedown_query_t *q, sitr_platform_error_t *err);

/* body: {"status":"removed"|"rejected"|"not_found","note":string|null}.
 * *status is static; *note borrows body (NULL when absent). */
int sitr_platform_parse_answer(const json_t *body, const char **status, const char **note,
                               sitr_platform_error_t *err);

/* Decimal id 1..2^63-1 without sign, spaces or leading zeros.  1 when valid. */
int sitr_platform_parse_id(const char *s, int64_t *out);

#endif
