/* What a query matches, images and videos alike: the search behind
 * POST /v1/match items and the matcher's cross-matching (issue 9).
 *
 * The case PDQ index holds case images and case video frames (vid.h), so
 * one search of a hash finds both:
 *   - an image item finds case images (signal pdq) and case videos that
 *     have a frame within the radius (signal video_frame, a still);
 *   - a video item's usable frames (plain, and trimmed when sent with
 *     quality >= 50) are searched in one batch; the hits on each case video
 *     go to sitr_vmatch_decide, the hits on each case image to
 *     sitr_vmatch_image_in_video (video_frame: the video contains the
 *     image).  A case video's signal: vpdq_copy when Meta's copy rule holds
 *     (query share >= 80 %) and the query also covers >= 80 % of the case
 *     video: of its distinct frames, or of its duration by the aligned run
 *     (a 1-fps copy of a case stored at 5 fps hits one case frame in five
 *     but runs its whole length): a whole copy; else vpdq_excerpt when the
 *     longest aligned run is >= S seconds; else vpdq_copy when Meta's rule
 *     alone holds on a clip shorter than S with at least two distinct
 *     matching frames (what HMA would report); else
 *     video_frame when any frame is within the radius (a still).  Meta's
 *     rule is a query share, so every excerpt passes it: the case coverage
 *     tells a whole copy from an excerpt;
 *   - MD5/SHA-256 are looked up exactly in the case digest tables, which
 *     hold images and videos.
 * One answer per matched target (case image or case video) with its best
 * signal, in this order of strength: sha256, md5, vpdq_copy, vpdq_excerpt,
 * pdq, video_frame (an exact file beats any perceptual evidence; a whole
 * copy beats an excerpt, an excerpt a single frame).  Answers are sorted by
 * distance, then signal strength, then target kind and id, and depend only
 * on the indexes' content, never on the order hits come back in (the batch
 * gives the same answers as one item at a time).
 *
 * distance: 0 for the digests; for pdq the image's closest variant; for the
 * video signals the smallest distance of any hit that counted (the decision's
 * still_distance).  coverage and run_seconds are set (>= 0) only for a
 * video query against a case video: coverage = the share of the case video
 * the query covers, 0..1 (the better of the copy's compared share and the
 * longest run's case share), run_seconds = the longest aligned run in the
 * query's time (0 when none); -1 otherwise.
 *
 * A searcher (sitr_msearch_t) carries the scratch memory of one thread:
 * create one per worker or per request (cheap), never share it between
 * threads at once.  The indexes and catalogues it reads are thread-safe. */
#ifndef SITR_MSEARCH_H
#define SITR_MSEARCH_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>
#include <sitr/pdq.h>

#include "match/replica.h"
#include "match/vmatch.h"
#include "match/vpack.h"

typedef enum sitr_msearch_kind {
    SITR_MSEARCH_IMAGE = 0, /* a case image (or, for the reverse searches, an image upload) */
    SITR_MSEARCH_VIDEO = 1  /* a case video (or a video upload) */
} sitr_msearch_kind_t;

/* In order of strength (lower is stronger). */
typedef enum sitr_msearch_signal {
    SITR_SIGNAL_SHA256 = 0,
    SITR_SIGNAL_MD5,
    SITR_SIGNAL_VPDQ_COPY,
    SITR_SIGNAL_VPDQ_EXCERPT,
    SITR_SIGNAL_PDQ,
    SITR_SIGNAL_VIDEO_FRAME
} sitr_msearch_signal_t;

/* The PDQ distance a platform is shown (docs/SECURITY.md "The match
 * oracle"): 0 stays 0 (an exact hash, or a digest match), 1 to
 * SITR_MSEARCH_BAND_NEAR answer SITR_MSEARCH_BAND_NEAR, anything above the
 * threshold.  Used by /v1/match, the /m lookups, GET /v1/takedowns and the
 * takedown webhooks alike. */
#define SITR_MSEARCH_BAND_NEAR 15
int sitr_msearch_band(int distance, int threshold);

/* "sha256", "md5", "vpdq_copy", "vpdq_excerpt", "pdq", "video_frame"
 * (static strings, the names of the API and of matches.signal). */
const char *sitr_msearch_signal_name(sitr_msearch_signal_t s);

/* One /v1/match item: an image (pdq and/or digests) or a video (frames
 * and/or digests).  Everything borrowed. */
typedef struct sitr_msearch_item {
    unsigned has_pdq : 1, has_md5 : 1, has_sha256 : 1;
    sitr_pdq_t pdq;
    int quality; /* the PDQ is searched only when >= 50 */
    uint8_t md5[16], sha256[32];
    /* A video item: frames[0..nframes) in non-decreasing time (the API
     * checks; otherwise SITR_EINVAL).  Frames below quality 50 are kept
     * in the query (they count for nothing, as in vPDQ); a frame's trimmed
     * hash is searched when has_trimmed and its quality >= 50; dihedral
     * hashes are ignored.  NULL for an image item. */
    const sitr_vframe_in_t *frames;
    size_t nframes;
} sitr_msearch_item_t;

typedef struct sitr_msearch_match {
    sitr_msearch_kind_t kind;
    int64_t id; /* case_images.id / case_videos.id (uploads.id for the reverse searches) */
    sitr_msearch_signal_t signal;
    int distance;
    double coverage;    /* 0..1, or -1 (see the top of this file) */
    double run_seconds; /* >= 0, or -1 */
    double query_share; /* a video query against a case video: the share of the query's
                           distinct usable frames that match, 0..1, best orientation
                           (Meta's copy rule's number); -1 otherwise */
} sitr_msearch_match_t;

typedef struct sitr_msearch sitr_msearch_t;

/* A searcher over ix (borrowed; must outlive it).  radius: the PDQ
 * threshold (0..256; sitrd's --match-threshold).  p: the video decision
 * parameters (copied; NULL = sitr_vmatch_params_default with every
 * orientation family allowed: which variants exist is the storage policy's
 * choice, FLIPY only by default, and a case image matches through any of
 * its eight as it does for image queries), whose max_distance is set to
 * radius.  NULL when out of memory or radius is
 * out of range.  Free with sitr_msearch_free (NULL is fine). */
sitr_msearch_t *sitr_msearch_new(const sitr_replica_indexes_t *ix, int radius,
                                 const sitr_vmatch_params_t *p);
void sitr_msearch_free(sitr_msearch_t *s);

/* Zeroes every hash s still holds from its last search (the query's hashes
 * and frames), so that a withdrawn case video's hashes do not linger in a
 * long-lived searcher's buffers.  The searcher stays usable. */
void sitr_msearch_wipe(sitr_msearch_t *s);

/* Searches one item.  At most max answers go to out (may be NULL with max
 * 0); returns the number of targets matched (may exceed max), or < 0
 * (SITR_ENOMEM, SITR_EINVAL for a video whose times decrease). */
long sitr_msearch_item(sitr_msearch_t *s, const sitr_msearch_item_t *item,
                       sitr_msearch_match_t *out, size_t max);

/* items[0..n) at once, with the same answers as one at a time: item i's at
 * most max answers go to out + i * max, its count to found[i].  The image
 * items' PDQs are searched together through sitr_index_search_batch (as
 * fast per image as before videos existed); each video item's frames are
 * one batch of their own.  0 or < 0 (then out and found are unspecified). */
SITR_MUST_CHECK int sitr_msearch_batch(sitr_msearch_t *s, const sitr_msearch_item_t *items,
                                       size_t n, sitr_msearch_match_t *out, size_t max,
                                       long *found);

/* Every answer of the last sitr_msearch_item / sitr_msearch_case_* call
 * (valid until the next call on s); *n receives their number. */
const sitr_msearch_match_t *sitr_msearch_results(const sitr_msearch_t *s, size_t *n);

/* ---- the reverse direction, for the matcher: a new case entity against
 * the stored uploads (upload index and upload catalogue).  Answers name
 * uploads: kind IMAGE = an image upload, VIDEO = a video upload; no digest
 * lookups (the caller does them).  Read them with sitr_msearch_results. */

/* A new case image (its plain hash and variants: hashes[i] is variant
 * variants[i], SITR_PDQ_ORIG..SITR_PDQ_FLIPMINUS1) against the uploads:
 * image uploads within the radius (pdq), video uploads with a usable frame
 * within the radius (video_frame).  Returns the count or < 0. */
long sitr_msearch_case_image(sitr_msearch_t *s, const sitr_pdq_t *hashes, const uint8_t *variants,
                             size_t n);

/* A new case video (its packed frames, vframes.h, every stored variant
 * searched; its catalogue entry in ix->case_videos, looked up by id: none,
 * e.g. erased since, and video uploads get no decision) against the
 * uploads: video uploads decided with the upload as the query (vpdq_copy,
 * vpdq_excerpt, video_frame, with coverage and run_seconds), image uploads
 * within the radius of a frame (video_frame).  Returns the count or < 0
 * (SITR_EINVAL for a malformed list). */
long sitr_msearch_case_video(sitr_msearch_t *s, int64_t video_id, const uint8_t *packed,
                             size_t len);

#endif
