/* Validation of videos on the wire (issue 9): the case videos that victims
 * send to POST /v1/cases and POST /v1/cases/{case}/images, the video items
 * of POST /v1/match and the video uploads of POST /v1/uploads.
 *
 * A case video is exactly what `sitr hash --format jsonl --dihedral` prints
 * for a video, without "path" (null counts as absent):
 *   "type"     "video" (optional)
 *   "md5"      32 hex digits (optional)
 *   "sha256"   64 hex digits (optional)
 *   "duration" seconds, a finite number >= 0 (optional)
 *   "fps"      a finite number > 0 (optional, not stored)
 *   "width", "height"  integers 0..65535 (optional, not stored)
 *   "frames"   array of frames (may be empty when a digest is present)
 * and a case frame:
 *   "n"        integer 0..2^32-1, strictly increasing within the video
 *   "t"        seconds, finite, >= 0, non-decreasing within the video
 *   "pdq"      64 hex digits; "quality" integer 0..100 (both required)
 *   "dihedral" optional array of exactly 8 PDQ hashes in sitr/pdq.h order
 *              (entry 0 is the plain hash itself)
 *   "trimmed"  optional {"pdq","quality"}: the frame with its uniform borders
 *              trimmed
 *
 * A query video (match item "video", upload "video") has the same members
 * (a platform may send sitr's own JSON without "path"); its frames may omit
 * "n" (then numbered from the previous frame's number + 1) and never carry
 * "dihedral": variants are stored for case videos only, a query sends its
 * plain hashes (and "trimmed" when its hasher makes one).
 *
 * Unknown members are refused, "path" with its own message (a file's path
 * is never sent).  Every fault is a 422 with a stable code and the JSON path
 * of the faulty member ("videos[0].frames[12].pdq"); messages name the rule,
 * never the value.  Frames of quality < 50 are accepted here and never
 * stored or searched (the packer drops them); a video left with no usable
 * frame and no digest is refused (video_quality_too_low), one with a digest
 * keeps the digest and gets a warning.
 *
 * Work and memory are bounded by the limits before any frame is examined
 * (frame arrays are sized from the checked counts).  Pure; any thread. */
#ifndef SITR_VIDEOS_JSON_H
#define SITR_VIDEOS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "api/images_json.h"
#include "match/vpack.h"

#define SITR_VIDEOS_DIHEDRAL    8
#define SITR_VIDEOS_MIN_QUALITY 50
/* Largest time or duration accepted, in seconds (a week of video). */
#define SITR_VIDEOS_MAX_SECONDS 604800.0

typedef enum sitr_video_kind {
    SITR_VIDEO_CASE = 0, /* a victim's video: "n" required, "dihedral" allowed */
    SITR_VIDEO_QUERY     /* a platform's video: "n" optional, no "dihedral" */
} sitr_video_kind_t;

/* One video as received. */
typedef struct sitr_video_in {
    uint8_t md5[16], sha256[32];
    int has_md5, has_sha256;
    double duration;          /* -1 when absent */
    sitr_vframe_in_t *frames; /* nframes entries (malloc, owned); match/vpack.h's frame, so
                                 that sitr_vpack packs them as they are */
    size_t nframes;
    size_t usable; /* frames of quality >= 50 */
} sitr_video_in_t;

typedef struct sitr_videos_limits {
    size_t max_videos;       /* videos in one list (case bodies) */
    size_t max_frames;       /* frames in one video */
    size_t max_total_frames; /* frames over a whole request */
} sitr_videos_limits_t;

/* Validates the video object v (borrowed) of the given kind.  path is its
 * JSON path ("videos[2]", "items[4].video") used in err->field.  max_frames
 * bounds its frame count.  0 and *out filled (release with
 * sitr_video_in_clear), or -1 with err filled (code "internal" on
 * allocation failure) and *out empty. */
int sitr_video_parse(const json_t *v, sitr_video_kind_t kind, const char *path, size_t max_frames,
                     sitr_video_in_t *out, sitr_images_error_t *err);
void sitr_video_in_clear(sitr_video_in_t *v);

/* A case body's video list. */
typedef struct sitr_videos {
    sitr_video_in_t *videos; /* count entries (malloc, owned) */
    size_t count;
    size_t frames;    /* frames over every video */
    json_t *warnings; /* [{"index","code","field","message"}] (owned) */
} sitr_videos_t;

/* Validates the array arr (the body's "videos") under lim.  0 and *out
 * filled (release with sitr_videos_clear), or -1 with err filled. */
int sitr_videos_parse(const json_t *arr, const sitr_videos_limits_t *lim, sitr_videos_t *out,
                      sitr_images_error_t *err);
void sitr_videos_clear(sitr_videos_t *v);

/* The SQL form of one video (sitr_case_create/sitr_case_add's p_videos
 * elements, sitr_uploads_report's video members): {"md5","sha256",
 * "duration","frames"} with absent members null and the frames packed by
 * match/vpack.h (role and variants as sitr_vpack takes them; "frames" null
 * when no frame has quality >= 50).  Returns a new object, or NULL with err
 * filled (code "internal" for memory; a packing refusal names path). */
json_t *sitr_video_sql(const sitr_video_in_t *v, sitr_vpack_role_t role, unsigned variants,
                       const char *path, sitr_images_error_t *err);

/* The whole list as JSON text for the SQL functions (malloc, caller
 * frees), or NULL with err filled. */
char *sitr_videos_sql(const sitr_videos_t *v, unsigned variants, sitr_images_error_t *err);

/* A whole case body: {"images":[...], "videos":[...]}, either absent but
 * not both, nothing else at the top level; an image list may be empty when
 * videos are sent and the other way round, not both.  Images follow
 * images_json.h (max_images per request).  0 with both outputs filled
 * (either may be empty), or -1 with err filled and both empty. */
int sitr_case_body_parse(const json_t *body, size_t max_images, const sitr_videos_limits_t *lim,
                         sitr_images_t *images, sitr_videos_t *videos, sitr_images_error_t *err);

#endif
