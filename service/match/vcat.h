/* The per-video catalogue: what the video match decisions need about each
 * video in the indexes, beside the index entries (vid.h) that only say
 * "video v, slot s, kind k".
 *
 * One catalogue for case videos, one for video uploads (sitr_replica_
 * indexes_t).  Per video: the stored frames' times, the distinct-hash
 * number of each slot (frames with identical plain hashes share it, vPDQ
 * SPEC §7.3), the count of distinct hashes (all stored frames are usable),
 * the duration and the sampling period.  A catalogue made with frames = 1
 * (uploads) also keeps each slot's plain hash and quality, ready to be a
 * vmatch query (the matcher decides a new case video against stored
 * uploads with the upload as the query).
 *
 * Records are immutable and reference-counted: sitr_vcat_get returns a
 * reference that stays valid (even if the video is removed or replaced
 * meanwhile) until sitr_vcat_release.  Lookups take a shared lock for the
 * table probe only; put/remove take it exclusively for a pointer swap.
 * Every function may run on any thread. */
#ifndef SITR_VCAT_H
#define SITR_VCAT_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>

#include "match/vmatch.h"

typedef struct sitr_vcat sitr_vcat_t;

typedef struct sitr_vcat_video {
    int64_t id;        /* case_videos.id or uploads.id */
    uint32_t nslots;   /* stored frames (records of the packed list) */
    uint32_t distinct; /* distinct plain hashes among them */
    double duration;   /* seconds */
    double period;     /* seconds between stored frames (median step) */
    double span;       /* the stretch the stored frames cover, last - first time + period, at most
                          duration: coverage's denominator (frames below quality 50, e.g. a black
                          intro or outro, are never stored, so a whole copy could not cover them) */
    const float *t;    /* [nslots] frame times */
    const uint32_t *cframe;            /* [nslots] distinct-hash number, < distinct */
    const sitr_vmatch_frame_t *frames; /* [nslots] with frames = 1, else NULL */
} sitr_vcat_video_t;

/* frames: 1 to keep the query frames (uploads).  NULL when out of memory.
 * Caller frees with sitr_vcat_free (NULL is fine); references still held
 * then stay valid until released. */
sitr_vcat_t *sitr_vcat_new(int frames);
void sitr_vcat_free(sitr_vcat_t *c);

/* Adds or replaces video id from its packed frames (vframes.h; validated
 * here: SITR_EINVAL when malformed or longer than SITR_VID_MAX_SLOTS
 * frames).  duration: the stored duration in seconds, or < 0 when unknown
 * (then the last frame's time plus one period).  0 or SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_vcat_put(sitr_vcat_t *c, int64_t id, const uint8_t *packed, size_t len,
                                  double duration);

/* Removes video id; 1 when it was there, 0 otherwise. */
int sitr_vcat_remove(sitr_vcat_t *c, int64_t id);

/* Removes every video (a reload). */
void sitr_vcat_clear(sitr_vcat_t *c);

/* A reference to video id, or NULL.  Release with sitr_vcat_release. */
const sitr_vcat_video_t *sitr_vcat_get(sitr_vcat_t *c, int64_t id);
void sitr_vcat_release(const sitr_vcat_video_t *v);

size_t sitr_vcat_size(sitr_vcat_t *c);   /* videos */
size_t sitr_vcat_frames(sitr_vcat_t *c); /* stored frames over all videos */
size_t sitr_vcat_bytes(sitr_vcat_t *c);  /* heap bytes, table and records */

#endif
