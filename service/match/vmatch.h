/* Video matching decisions: given a query (an uploaded video's frames, or
 * one image) and the PDQ index hits it got against one case video (or one
 * case image), decide whether it is a whole copy (signal vpdq_copy), an
 * excerpt (vpdq_excerpt) or contains a still (video_frame).
 *
 * The rules (docs/VIDEO_MATCHING.md has the measurements behind the
 * defaults):
 *   - copy: Meta's python-threatexchange rule (vPDQ SPEC.md §7.3) computed
 *     exactly on the plain hashes: exact-duplicate query hashes counted once,
 *     quality >= 50 on both sides, distance <= 31, share of the query's
 *     distinct usable hashes that match >= 80 %.  The same share is also
 *     computed per stored variant family (a left-right mirrored copy through
 *     the FLIPY frame hashes: PDQ's FLIPY mirrors across the vertical axis;
 *     a letterboxed one through the trimmed hashes) and the
 *     best family decides.
 *   - excerpt: the longest chain of hits, one variant family, query frames
 *     in increasing time, each step advancing query time by at most max_gap
 *     and case time by an amount consistent with a playback speed in
 *     [slope_min, slope_max] give or take jitter seconds (strictly forward:
 *     one case frame never stands for a whole stretch of the query unless it
 *     was stored as a span of identical frames); the run's length is the
 *     query time it covers.  Excerpt when that length >= excerpt_seconds.
 *   - still: any usable hit within max_distance.
 *
 * Pure functions: no allocation, no globals, no locks; every function may
 * run on any thread at the same time as any other.  Memory comes from the
 * caller: a per-query work array and a per-decision scratch buffer whose
 * sizes the *_size functions give. */
#ifndef SITR_VMATCH_H
#define SITR_VMATCH_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/pdq.h>

/* Stored variant kinds of a case frame: the eight dihedral variants in
 * sitr_pdq_dihedral order, then the hash of the frame with its uniform
 * borders trimmed (an orientation-preserving variant: family ORIG). */
#define SITR_VMATCH_TRIMMED  8
#define SITR_VMATCH_VARIANTS 9
#define SITR_VMATCH_FAMILIES 8 /* orientation families: the dihedral variants */

/* A query video's frame. */
typedef struct sitr_vmatch_frame {
    double t; /* seconds from the start of the query video; non-decreasing */
    sitr_pdq_t pdq;
    int quality; /* 0..100 */
} sitr_vmatch_frame_t;

/* One index hit of a query frame on a frame of one case video. */
typedef struct sitr_vmatch_hit {
    uint32_t qframe; /* index into the query's frames */
    uint32_t cframe; /* the case frame's distinct-hash number, 0..case frames-1: two
                        stored frames with identical hashes share it (SPEC §7.3 dedupe) */
    double c0, c1;   /* case time span in seconds this stored frame stands for: c0 == c1
                        for one frame, c0 < c1 for a run of identical frames stored once */
    uint8_t variant; /* stored variant hit: SITR_PDQ_ORIG..SITR_PDQ_FLIPMINUS1,
                        SITR_VMATCH_TRIMMED */
    uint8_t qtrim;   /* 1 when the query side searched was its trimmed-border hash */
    uint16_t distance;
} sitr_vmatch_hit_t;

/* What the caller knows about the case video. */
typedef struct sitr_vmatch_case {
    uint32_t frames; /* distinct stored hashes with quality >= min_quality (the
                        compared side's denominator); hits' cframe < frames */
    double duration; /* seconds */
    double period;   /* seconds between stored frames (1 / sampling rate); the
                        covered share counts one period for the run's last frame */
} sitr_vmatch_case_t;

typedef struct sitr_vmatch_params {
    int max_distance;       /* 31: a hit matches when distance <= this */
    int min_quality;        /* 50, both sides (case frames are stored only when usable) */
    double copy_percent;    /* 80.0: query share for a copy, in percent (compared as pytx
                               does: matched * 100 / usable >= copy_percent) */
    double excerpt_seconds; /* S: 5 */
    double slope_min;       /* 0.75: case seconds per query second, slowest */
    double slope_max;       /* 1.33: fastest */
    double jitter;          /* seconds of timing slack per chain step */
    double max_gap;         /* seconds of query time a chain may skip between two hits */
    unsigned families;      /* bit f: orientation family f may match (copy, excerpt,
                               still); bit 0 must be set for the exact pytx rule;
                               default ORIG and FLIPY (what a mirrored copy hits) */
} sitr_vmatch_params_t;

/* Fills p with the defaults (the values docs/VIDEO_MATCHING.md justifies). */
void sitr_vmatch_params_default(sitr_vmatch_params_t *p);

/* A query prepared once and used for every candidate case video.  Borrows
 * frames and work; both must outlive it. */
typedef struct sitr_vmatch_query {
    const sitr_vmatch_frame_t *frames;
    size_t n;
    const uint32_t *rep; /* rep[i]: index of the first frame with frame i's hash, or
                            UINT32_MAX when frame i's quality is below min_quality */
    size_t usable;       /* distinct hashes among frames with quality >= min_quality
                            (dedupe first, then the quality filter, as pytx does) */
    double period;       /* mean seconds between frames (0 for one frame), capped at
                            max_gap: what the run's last frame counts for */
} sitr_vmatch_query_t;

/* Prepares q from frames[0..n).  work: 2 * n uint32_t, caller-owned; q->rep
 * points into it.  Returns 0, or -1 when n >= UINT32_MAX or frame times
 * decrease or are not finite. */
int sitr_vmatch_query_prepare(sitr_vmatch_query_t *q, const sitr_vmatch_frame_t *frames, size_t n,
                              uint32_t *work, const sitr_vmatch_params_t *p);

typedef struct sitr_vmatch_result {
    /* vpdq_copy */
    int copy;             /* 1 when some allowed family's query share >= copy_percent */
    int copy_pytx;        /* 1 when python-threatexchange's rule alone says copy */
    double pytx_query;    /* its query share in percent (plain hashes, ORIG variant) */
    double pytx_compared; /* its compared (case-side) share in percent */
    double copy_query;    /* the best family's query share in percent (plain and trimmed
                             hashes of that orientation) */
    double copy_compared; /* that family's compared share in percent */
    int copy_family;      /* that family (SITR_PDQ_ORIG.. ) */
    /* vpdq_excerpt */
    int excerpt;           /* 1 when run_seconds >= excerpt_seconds */
    double run_seconds;    /* query time covered by the longest run (0: none) */
    double run_q0, run_q1; /* its first and last query frame times */
    double run_c0, run_c1; /* the case times they match */
    double run_case_share; /* (run_c1 - run_c0 + case period) / duration, at most 1 */
    int run_family;
    size_t run_hits; /* chain length */
    /* video_frame */
    int still;          /* 1 when some usable hit is within max_distance */
    int still_distance; /* its smallest distance (-1: none) */
} sitr_vmatch_result_t;

/* Bytes of scratch sitr_vmatch_decide needs. */
size_t sitr_vmatch_scratch_size(size_t query_frames, uint32_t case_frames, size_t nhits);

/* Decides one (query video, case video) pair from its hits.  hits[0..n) is
 * reordered in place (caller-owned).  Hits outside the query or case frame
 * ranges, over max_distance, of unusable query frames or of disallowed
 * families are ignored.  scratch: sitr_vmatch_scratch_size bytes, any
 * alignment.  Returns 0, or -1 when scratch is too small.
 *
 * Cost: O(n log n) for the sort plus, per hit, the hits of the query frames
 * within max_gap before it whose case times lie in the step's window (a few
 * per frame at the sampling rates documented), so O(n * k) with k bounded by
 * the query and case sampling rates, never O(n^2) over unrelated hits. */
int sitr_vmatch_decide(const sitr_vmatch_query_t *q, const sitr_vmatch_case_t *cv,
                       sitr_vmatch_hit_t *hits, size_t n, const sitr_vmatch_params_t *p,
                       void *scratch, size_t scratch_len, sitr_vmatch_result_t *out);

/* An image query (one PDQ of quality >= min_quality) against one case
 * video: hits use qframe 0.  Returns the smallest distance of an allowed
 * hit within max_distance (signal video_frame), or -1. */
int sitr_vmatch_still(const sitr_vmatch_hit_t *hits, size_t n, const sitr_vmatch_params_t *p);

/* A video query against one case IMAGE: hits[i].qframe is the query frame,
 * variant the image's stored variant (cframe, c0, c1 unused).  Returns the
 * smallest distance of an allowed hit of a usable query frame within
 * max_distance, or -1; *frame (may be NULL) receives that query frame's
 * index. */
int sitr_vmatch_image_in_video(const sitr_vmatch_query_t *q, const sitr_vmatch_hit_t *hits,
                               size_t n, const sitr_vmatch_params_t *p, uint32_t *frame);

#endif
