/* The server's storage policy for video frames: turns a parsed video (what
 * the API read from JSON) into the packed frame list (vframes.h) that goes
 * to the database, for a case video or a video upload.
 *
 * Policy (docs/VIDEO_MATCHING.md has the measurements):
 *   - frames with quality < 50 are dropped (never stored, never matched);
 *   - a case frame keeps its plain hash, the dihedral variants selected by
 *     `variants` (default FLIPY only: a left-right mirrored copy hits PDQ's
 *     FLIPY; sitrd --case-video-dihedral=on stores all seven), when the
 *     frame came with its dihedral hashes, and its trimmed-border hash when
 *     it has one of quality >= 50;
 *   - an upload frame keeps its plain hash only.
 *
 * For the API: parse each frame into a sitr_vframe_in_t, check the order
 * yourself if you want to name the faulty field (this module refuses the
 * whole list otherwise), then call sitr_vpack_hex and hand the string to
 * sitr_case_create/sitr_case_add ("frames" member of a video) or
 * sitr_uploads_report ("frames" member of an upload).  A video whose
 * frames are all below quality 50 packs to nothing (*kept == 0, NULL
 * string): send "frames": null then (its digests still count).
 *
 * Pure functions; any thread. */
#ifndef SITR_VPACK_H
#define SITR_VPACK_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>
#include <sitr/pdq.h>

/* One frame as parsed from JSON. */
typedef struct sitr_vframe_in {
    uint32_t n; /* frame number: strictly increasing within a video */
    double t;   /* seconds: finite, >= 0, non-decreasing */
    sitr_pdq_t pdq;
    int quality;                                  /* 0..100 */
    unsigned has_dihedral : 1;                    /* dihedral[] valid (sitr hash --dihedral) */
    unsigned has_trimmed : 1;                     /* trimmed, trimmed_quality valid */
    sitr_pdq_t dihedral[SITR_PDQ_DIHEDRAL_COUNT]; /* sitr_pdq_dihedral order; [0] = pdq */
    sitr_pdq_t trimmed;
    int trimmed_quality;
} sitr_vframe_in_t;

typedef enum sitr_vpack_role {
    SITR_VPACK_CASE = 0, /* a case video: variants under the policy */
    SITR_VPACK_UPLOAD    /* a video upload: plain hashes only */
} sitr_vpack_role_t;

/* Variant masks (vframes.h mask bits 0..6 = dihedral variants 1..7). */
#define SITR_VPACK_VARIANTS_DEFAULT (1u << (SITR_PDQ_FLIPY - 1))
#define SITR_VPACK_VARIANTS_ALL     0x7fu

/* Packs f[0..n) into *out (malloc, caller frees; NULL when no frame is kept)
 * of *len bytes; *kept receives the number of frames stored.  variants:
 * which dihedral variants a case frame keeps (ignored for uploads).
 * Returns 0; SITR_EINVAL when a frame is out of order or unstorable
 * (*bad, may be NULL, receives its index: numbers not strictly increasing,
 * time not finite, negative or decreasing, quality outside 0..100);
 * SITR_ETOOBIG beyond SITR_VID_MAX_SLOTS kept frames; SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_vpack(const sitr_vframe_in_t *f, size_t n, sitr_vpack_role_t role,
                               unsigned variants, uint8_t **out, size_t *len, size_t *kept,
                               size_t *bad);

/* The same, as lower-case hex (NUL-terminated, malloc; NULL when nothing is
 * kept): the form the SQL functions take. */
SITR_MUST_CHECK int sitr_vpack_hex(const sitr_vframe_in_t *f, size_t n, sitr_vpack_role_t role,
                                   unsigned variants, char **hex, size_t *kept, size_t *bad);

#endif
