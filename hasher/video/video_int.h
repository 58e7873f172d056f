/* Internal: the pieces of the video front-end (sitr/video.h).
 *
 *   source.c  the input bytes (a file we opened, or memory), the AVIOContext
 *             the demuxer reads through, MD5/SHA-256 on their own thread
 *   demux.c   allow-lists, opening the container, choosing the stream and
 *             the decoder, the limits known before decoding
 *   pool.c    the hashing threads: RGB conversion, luma, PDQ, trimmed hash
 *   luma.c    RGB24 -> float luma, cropping
 *   trim.c    uniform-border (letterbox/pillarbox) detection
 *   video.c   the public calls and the decode loop
 *
 * Exposed so that tests and the fuzz target can reach the memory input and
 * the in-flight counters. */
#ifndef SITR_VIDEO_INT_H
#define SITR_VIDEO_INT_H

#include <sitr/video.h>

#include <pthread.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

/* ---- source.c ---- */

/* The bytes of one video: a file descriptor we opened (fd >= 0) or a
 * borrowed memory buffer (fd == -1).  Reads are positional, so the demuxer
 * and the digest thread never share a file offset. */
typedef struct sitr_vsrc {
    int fd;
    const uint8_t *mem;
    uint64_t size;
} sitr_vsrc_t;

/* Opens path (regular, non-empty, at most max_bytes).  0 or an error with
 * err filled. */
SITR_MUST_CHECK int sitr_vsrc_open_file(sitr_vsrc_t *src, const char *path, uint64_t max_bytes,
                                        sitr_err_t *err);
/* Wraps memory (borrowed for the source's lifetime). */
SITR_MUST_CHECK int sitr_vsrc_open_memory(sitr_vsrc_t *src, const void *data, size_t len,
                                          uint64_t max_bytes, sitr_err_t *err);
void sitr_vsrc_close(sitr_vsrc_t *src);

/* Reads up to len bytes at off; returns the count (0 at the end) or -errno. */
int64_t sitr_vsrc_read_at(const sitr_vsrc_t *src, uint64_t off, void *buf, size_t len);

/* A new AVIOContext reading src (no write, seekable); NULL when out of memory.
 * Free with sitr_vsrc_avio_free. */
AVIOContext *sitr_vsrc_avio_new(sitr_vsrc_t *src);
void sitr_vsrc_avio_free(AVIOContext **pb);

/* MD5 and SHA-256 of every byte of src, computed on a thread of their own. */
typedef struct sitr_vdigest {
    pthread_t thread;
    int started;
    const sitr_vsrc_t *src;
    const volatile int *cancel;
    int rc; /* 0, SITR_EIO, SITR_ENOMEM or SITR_ECANCELED once joined */
    uint8_t md5[16];
    uint8_t sha256[32];
} sitr_vdigest_t;

SITR_MUST_CHECK int sitr_vdigest_start(sitr_vdigest_t *d, const sitr_vsrc_t *src,
                                       const volatile int *cancel, sitr_err_t *err);
/* Waits for the digests; returns d->rc. */
int sitr_vdigest_join(sitr_vdigest_t *d);

/* ---- demux.c ---- */

typedef struct sitr_vdemux {
    AVFormatContext *fmt;
    AVIOContext *pb;
    AVCodecContext *dec;
    int stream; /* index of the video stream hashed */
    double fps; /* avg_frame_rate, or r_frame_rate when that is 0 */
    int width;  /* codecpar size */
    int height;
    double container_duration; /* seconds, 0 when unknown */
    int64_t declared_frames;   /* the container's frame count for the stream, 0 if unknown */
} sitr_vdemux_t;

/* Opens the container in src (borrowed, must outlive the demuxer), chooses
 * the first video stream that is not an attached picture, checks the
 * allow-lists and the limits known before decoding, and opens the decoder
 * with dec_threads threads.  On failure everything is released. */
SITR_MUST_CHECK int sitr_vdemux_open(sitr_vdemux_t *d, sitr_vsrc_t *src,
                                     const sitr_video_limits_t *lim, int dec_threads,
                                     sitr_err_t *err);
void sitr_vdemux_close(sitr_vdemux_t *d);

/* ---- luma.c ---- */

/* Y = (0.299f R + 0.587f G) + 0.114f B for every pixel of a w x h RGB24
 * image with rows linesize bytes apart, into out[h*w] (SPEC.md §5). */
void sitr_video_rgb_luma(const uint8_t *rgb, int linesize, int w, int h, float *out);

/* Copies the rectangle (x0, y0, cw x ch) of a w-wide luma plane to out. */
void sitr_video_luma_crop(const float *luma, int w, int x0, int y0, int cw, int ch, float *out);

/* ---- trim.c ---- */

typedef struct sitr_vrect {
    int x, y, w, h;
} sitr_vrect_t;

/* Looks for uniform borders (rows at the top and bottom, columns at the
 * left and right of near-constant level) in a w x h luma plane.  Returns 1
 * and the content rectangle when at least one border was found and the
 * content left is large enough to hash, 0 otherwise. */
int sitr_video_find_borders(const float *luma, int w, int h, sitr_vrect_t *content);

/* ---- pool.c ---- */

typedef struct sitr_vpool sitr_vpool_t;

/* Starts nthreads hashing threads with room for nslots frames in flight.
 * flags: SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED. */
SITR_MUST_CHECK int sitr_vpool_new(sitr_vpool_t **out, int nthreads, int nslots, unsigned flags,
                                   sitr_err_t *err);

/* Hands frame (ownership taken, freed in every case) to the pool as frame
 * number n.  When every slot is busy, first waits for the oldest one and
 * appends its result to the frames array.  Returns 0 or the error of a
 * finished frame (err filled). */
SITR_MUST_CHECK int sitr_vpool_submit(sitr_vpool_t *p, AVFrame *frame, int64_t n, double ts,
                                      sitr_video_frame_t **frames, size_t *count, size_t *cap,
                                      sitr_err_t *err);

/* Waits for every frame still in flight and appends the results in order. */
SITR_MUST_CHECK int sitr_vpool_finish(sitr_vpool_t *p, sitr_video_frame_t **frames, size_t *count,
                                      size_t *cap, sitr_err_t *err);

/* Stops the threads (after their current frame) and frees everything. */
void sitr_vpool_free(sitr_vpool_t *p);

/* The most frames that were ever in the pool at once (test hook). */
int sitr_vpool_max_in_flight(const sitr_vpool_t *p);

/* ---- video.c ---- */

/* What a run looked like from the inside, for tests. */
typedef struct sitr_video_stats {
    int slots;         /* frames the pool may hold */
    int max_in_flight; /* the most it ever held */
    int threads;       /* hashing threads */
    int64_t packets;   /* video packets read */
} sitr_video_stats_t;

/* sitr_video_hash_file on a memory buffer (borrowed); stats may be NULL. */
SITR_MUST_CHECK int sitr_video_hash_memory(const void *data, size_t len,
                                           const sitr_video_options_t *opt, sitr_video_t **out,
                                           sitr_err_t *err);

/* sitr_video_hash_file that also reports stats (may be NULL). */
SITR_MUST_CHECK int sitr_video_hash_file_stats(const char *path, const sitr_video_options_t *opt,
                                               sitr_video_t **out, sitr_video_stats_t *stats,
                                               sitr_err_t *err);

#endif
