/* Hashing video files: Meta's vPDQ (PDQ of selected frames at full frame
 * resolution), the frames' dihedral variants, MD5 and SHA-256 of the bytes.
 *
 * Frame selection, RGB conversion, luma and timestamps follow
 * shared/testdata/vpdq/SPEC.md §1-§6 so that hashes equal the reference
 * built on the same FFmpeg.  Decoding uses FFmpeg's libraries with an
 * allow-list of containers and decoders, no network protocols and no
 * external references; limits are checked before and during decoding.
 * Memory stays bounded by a few decoded frames whatever the length: frames
 * are hashed by a pool of threads while the next ones decode, and the result
 * is identical whatever the thread count. */
#ifndef SITR_VIDEO_H
#define SITR_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>
#include <sitr/image.h>
#include <sitr/pdq.h>

/* Extra per-frame hash of the frame with uniform borders (letterbox or
 * pillarbox bars: rows/columns of near-constant colour) cut away.  Only
 * frames where such borders were found get one (has_trimmed). */
#define SITR_VIDEO_WANT_TRIMMED 2u

/* One selected frame.  Never its pixels. */
typedef struct sitr_video_frame {
    int64_t number;        /* 0-based position among the decoded frames */
    double timestamp;      /* seconds: (float)number / (float)fps, as the reference */
    sitr_pdq_result_t pdq; /* hash, quality, dihedral (if asked) */
    int has_trimmed;       /* 1 when borders were found and trimmed is filled */
    sitr_pdq_t trimmed;    /* SITR_VIDEO_WANT_TRIMMED: hash without the borders */
    int trimmed_quality;
} sitr_video_frame_t;

/* A hashed video.  Owned by the caller, freed with sitr_video_free. */
typedef struct sitr_video {
    uint8_t md5[SITR_MD5_BYTES];
    uint8_t sha256[SITR_SHA256_BYTES];
    int width, height;      /* coded display size (codecpar), as the reference */
    double fps;             /* avg_frame_rate, or r_frame_rate when that is 0 */
    double duration;        /* seconds: decoded frames / fps */
    int64_t decoded_frames; /* every frame the decoder returned */
    int64_t period;         /* m: every m-th decoded frame is hashed */
    size_t count;           /* selected frames, in frame order */
    sitr_video_frame_t *frames;
} sitr_video_t;

/* Limits checked before decoding (from the container) and during it. */
typedef struct sitr_video_limits {
    uint64_t max_file_bytes;    /* default 4 GiB */
    uint64_t max_frame_pixels;  /* width*height, default 8192*4352 (8K) */
    double max_duration;        /* seconds, default 4 h */
    uint64_t max_frames;        /* decoded frames, default 1,000,000 */
    unsigned max_streams;       /* streams in the container, default 32 */
    uint64_t max_decode_pixels; /* total decoded pixels, default 2e12 (4 h of 4K at 60 fps) */
    unsigned max_size_changes;  /* changes of frame size or pixel format, default 64 */
} sitr_video_limits_t;

/* Progress: seconds of video decoded so far and the container's duration
 * (0 when unknown).  Called from the decoding thread. */
typedef void (*sitr_video_progress_cb)(void *ctx, double done, double total);

typedef struct sitr_video_options {
    double seconds_per_hash; /* default 1 (HMA); 0 = every frame; parsed as float like the
                                reference's CLI by sitr_video_parse_seconds */
    unsigned flags;          /* SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED */
    int threads;             /* hashing threads besides the decoder; 0 = online CPUs */
    sitr_video_limits_t limits;
    sitr_video_progress_cb progress; /* may be NULL */
    void *progress_ctx;
    const volatile int *cancel; /* may be NULL; when it becomes non-zero, the call stops
                                   with SITR_ECANCELED */
} sitr_video_options_t;

/* Fills opt with the defaults above. */
void sitr_video_options_default(sitr_video_options_t *opt);

/* Parses a secondsPerHash value as the reference's CLI does (a float, then
 * widened): "1", "0.5", "0".  0 or SITR_EINVAL (negative, not a number,
 * over one hour). */
SITR_MUST_CHECK int sitr_video_parse_seconds(const char *s, double *out);

/* 1 when the first bytes of a file look like an accepted video container
 * (MP4/MOV/3GP, Matroska/WebM, AVI, MPEG-TS), 0 otherwise.  Recognises by
 * content only.  HEIF/AVIF still images (ftyp brands heic, mif1, avif, ...)
 * are not videos. */
int sitr_video_sniff(const void *head, size_t len);

/* Hashes the video file at path.  opt may be NULL for defaults.  On success
 * *out is a new sitr_video_t with at least one frame; on failure returns a
 * negative code, fills err and leaves *out NULL: a truncated, corrupt,
 * audio-only or empty video is an error, never a partial result. */
SITR_MUST_CHECK int sitr_video_hash_file(const char *path, const sitr_video_options_t *opt,
                                         sitr_video_t **out, sitr_err_t *err);

/* Frees v; NULL does nothing. */
void sitr_video_free(sitr_video_t *v);

/* Writes the reference's line for one frame (SPEC.md §6):
 * "<number>,<quality>,<hex>,<timestamp %.3f>\n" (no NUL beyond the line).
 * Returns the line's length, or SITR_EINVAL if buf is too small
 * (SITR_VIDEO_LINE_MAX always suffices). */
#define SITR_VIDEO_LINE_MAX 128
int sitr_video_format_line(const sitr_video_frame_t *f, char *buf, size_t size);

#endif
