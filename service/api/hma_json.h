/* The pure parts of the HMA-compatible /m routes (hma.c, docs/api-hma.md):
 * HMA's signal type names, its signal strings, its boolean query
 * parameters, the distance strings of its answers and POST /m/compare (a
 * pure function of the two hashes sent).
 *
 * Signal strings are HMA's (python-threatexchange's validate_signal_str):
 *   pdq        64 lower-case hex digits
 *   md5, video_md5   32 hex digits, surrounding white space ignored, either case
 *   sha256     64 hex digits, likewise
 *   vpdq       a JSON array of "<64 hex>,<quality 0..100>,<seconds >= 0>"
 *              strings (vPDQ's compact features), times non-decreasing
 * Messages name the rule, never the value (a value is a hash).
 *
 * No event loop, no globals: any thread. */
#ifndef SITR_API_HMA_JSON_H
#define SITR_API_HMA_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include <sitr/pdq.h>

#include "match/vpack.h"

typedef enum sitr_hma_type {
    SITR_HMA_PDQ = 0,
    SITR_HMA_MD5,
    SITR_HMA_VIDEO_MD5,
    SITR_HMA_SHA256,
    SITR_HMA_VPDQ,
    SITR_HMA_NTYPES
} sitr_hma_type_t;

/* "pdq", "md5", "video_md5", "sha256", "vpdq". */
const char *sitr_hma_type_name(sitr_hma_type_t t);
/* 0 and *out, or -1 for a name HMA's sitr does not know. */
int sitr_hma_type_parse(const char *name, sitr_hma_type_t *out);

/* HMA's "No such <label> '<name>'" into msg; the name is repeated only
 * when it looks like one (up to 32 lower-case letters, digits and _). */
void sitr_hma_unknown_type(const char *label, const char *name, char *msg, size_t cap);

/* Quality HMA's PDQ and vPDQ rules need (frames below it count for nothing). */
#define SITR_HMA_MIN_QUALITY 50

typedef struct sitr_hma_signal {
    sitr_hma_type_t type;
    sitr_pdq_t pdq;           /* SITR_HMA_PDQ */
    uint8_t digest[32];       /* md5 (16 bytes) or sha256 */
    sitr_vframe_in_t *frames; /* SITR_HMA_VPDQ: nframes (malloc, owned) */
    size_t nframes;
} sitr_hma_signal_t;

/* Parses s as a signal of type t.  max_frames bounds a vPDQ signal.  0 and
 * *out (release with sitr_hma_signal_clear), or -1 with msg filled (HMA's
 * "invalid signal: ..." wording) and *out empty; -2 when out of memory. */
int sitr_hma_signal_parse(sitr_hma_type_t t, const char *s, size_t max_frames,
                          sitr_hma_signal_t *out, char *msg, size_t cap);
void sitr_hma_signal_clear(sitr_hma_signal_t *sig);

/* HMA's boolean query parameters (pydantic's words, any case): true, t,
 * yes, y, on, 1 / false, f, no, n, off, 0.  0 and *out, or -1. */
int sitr_hma_parse_bool(const char *s, int *out);

/* HMA's vPDQ brute-force shares (vpdq_brute_matcher): each side's frames
 * of quality >= 50, exact duplicates counted once; the share of the query's
 * that have a frame of the other side within distance (and the converse),
 * in percent, 0 for an empty side. */
void sitr_hma_vpdq_shares(const sitr_vframe_in_t *q, size_t nq, const sitr_vframe_in_t *c,
                          size_t nc, int distance, double *query_pct, double *compared_pct);

/* POST /m/compare on a parsed body: {"<type>": ["<hash>", "<hash>"], ...}
 * answered {"<type>": [<match>, <detail>], ...} as HMA does: pdq
 * [distance <= threshold, {"distance": d}], vpdq [query share >= 80,
 * {"query_match_percent": q, "compared_match_percent": c}], digests
 * [equal, {}].  Returns the answer, or NULL with msg filled (a 400) or
 * msg[0] == '\0' (out of memory). */
json_t *sitr_hma_compare(const json_t *body, int threshold, size_t max_frames, char *msg,
                         size_t cap);

#endif
