/* The id space of the in-memory indexes once videos are in them (issue 9).
 *
 * One PDQ index holds case images AND case video frames, another image
 * uploads AND video upload frames, so that one search of a hash finds both
 * kinds.  A 64-bit entry id says which:
 *
 *   bit 63 clear: an image, as before videos (case: image_id << 3 | variant,
 *                 upload: upload_id);
 *   bit 63 set:   a video frame: video_id << 24 | slot << 4 | kind, where
 *                 video_id is the case_videos id (case index) or the uploads
 *                 id (upload index), slot the record's position in the
 *                 packed frame list (vframes.h), kind 0 = the plain hash,
 *                 1..7 = dihedral variant, 8 = trimmed borders
 *                 (SITR_VMATCH_TRIMMED).
 *
 * The case digest tables (MD5, SHA-256) hold image ids as before and case
 * videos as bit 63 | video_id.  Upload digests are upload ids either way
 * (an upload is an image or a video, never both).
 *
 * Limits: video ids below 2^39, at most 2^20 stored frames per video.  Only
 * sitr code in service/match and service/jobs decodes ids; the API sees
 * target kinds and ids (msearch.h). */
#ifndef SITR_VID_H
#define SITR_VID_H

#include <stdint.h>

#define SITR_VID_FRAME_BIT ((uint64_t)1 << 63)
#define SITR_VID_SLOT_BITS 20
#define SITR_VID_MAX_SLOTS ((uint32_t)1 << SITR_VID_SLOT_BITS)
#define SITR_VID_MAX_VIDEO (((int64_t)1 << 39) - 1)
/* Mask selecting every entry of one video (sitr_index_remove_ids). */
#define SITR_VID_VIDEO_MASK (~(((uint64_t)1 << 24) - 1))

static inline uint64_t sitr_vid_frame(int64_t video, uint32_t slot, unsigned kind)
{
    return SITR_VID_FRAME_BIT | (uint64_t)video << 24 | (uint64_t)slot << 4 | (kind & 15u);
}

static inline int sitr_vid_is_frame(uint64_t id)
{
    return (id & SITR_VID_FRAME_BIT) != 0;
}

static inline int64_t sitr_vid_video(uint64_t id)
{
    return (int64_t)((id & ~SITR_VID_FRAME_BIT) >> 24);
}

static inline uint32_t sitr_vid_slot(uint64_t id)
{
    return (uint32_t)(id >> 4) & (SITR_VID_MAX_SLOTS - 1);
}

static inline unsigned sitr_vid_kind(uint64_t id)
{
    return (unsigned)(id & 15u);
}

/* A case video in the case digest tables. */
static inline uint64_t sitr_vid_digest(int64_t video)
{
    return SITR_VID_FRAME_BIT | (uint64_t)video;
}

#endif
