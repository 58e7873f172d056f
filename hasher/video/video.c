/* The public video calls (sitr/video.h) and the decode loop.
 *
 * The calling thread demuxes and decodes; every decoded frame gets the
 * number the reference gives it (its position among the frames the
 * decoder returned, SPEC.md §2), frames with number mod m == 0 go to the
 * hashing pool (pool.c), and a digest thread (source.c) reads the file for
 * MD5/SHA-256 at the same time.  Limits on every decoded frame: size,
 * count, total pixels, duration, size changes.
 *
 * Error policy, stricter than the reference where the reference would
 * print a partial result: any decoder error, a read error, a packet the
 * demuxer marks corrupt, or fewer packets than the container's index
 * declares fails the whole file.  Like the reference, frames are counted
 * only when the decoder returns them.  Unlike the reference, the decoder
 * is always drained at the end, also when the video is not stream 0 (the
 * reference then loses the frames the decoder still holds, SPEC.md §2),
 * and a change of frame size is hashed at the new size (the reference's
 * behaviour is undefined there) up to a limit. */
#include "video_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SECONDS_PER_HASH 3600.0

void sitr_video_options_default(sitr_video_options_t *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->seconds_per_hash = 1.0;
    opt->flags = 0;
    opt->threads = 0;
    opt->limits.max_file_bytes = (uint64_t)4 << 30;
    opt->limits.max_frame_pixels = (uint64_t)8192 * 4352;
    opt->limits.max_duration = 4 * 3600.0;
    opt->limits.max_frames = 1000000;
    opt->limits.max_streams = 32;
    opt->limits.max_decode_pixels = (uint64_t)2000000000000ull;
    opt->limits.max_size_changes = 64;
}

int sitr_video_parse_seconds(const char *s, double *out)
{
    if (s == NULL || *s == '\0' || out == NULL)
        return SITR_EINVAL;
    char *end;
    errno = 0;
    float f = strtof(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(f) || f < 0 ||
        f > MAX_SECONDS_PER_HASH)
        return SITR_EINVAL;
    /* The reference's CLI parses a float and widens it: 0.7 becomes
     * 0.699999988..., so m = (int)(0.7f * 30) = 20. */
    *out = (double)f;
    return 0;
}

int sitr_video_format_line(const sitr_video_frame_t *f, char *buf, size_t size)
{
    char hex[SITR_PDQ_HEX_LEN + 1];
    sitr_pdq_to_hex(&f->pdq.hash, hex);
    char line[SITR_VIDEO_LINE_MAX + 64];
    int n = snprintf(line, sizeof(line), "%jd,%d,%s,%.3f\n", (intmax_t)f->number, f->pdq.quality,
                     hex, f->timestamp);
    if (n < 0 || buf == NULL || (size_t)n > size)
        return SITR_EINVAL;
    memcpy(buf, line, (size_t)n);
    return n;
}

void sitr_video_free(sitr_video_t *v)
{
    if (v == NULL)
        return;
    free(v->frames);
    free(v);
}

int sitr_video_sniff(const void *head, size_t len)
{
    const uint8_t *p = head;
    if (p == NULL)
        return 0;
    /* Matroska / WebM: the EBML magic. */
    if (len >= 4 && p[0] == 0x1a && p[1] == 0x45 && p[2] == 0xdf && p[3] == 0xa3)
        return 1;
    /* AVI: RIFF....AVI  */
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "AVI ", 4) == 0)
        return 1;
    /* MPEG-TS: sync bytes 188 apart (as many as we were given, at least 2). */
    if (len >= 189 && p[0] == 0x47 && p[188] == 0x47 && (len < 377 || p[376] == 0x47))
        return 1;
    if (len >= 12 && memcmp(p + 4, "ftyp", 4) == 0) {
        /* ISO-BMFF: still-image brands (HEIF, AVIF, their sequences) are not
         * videos; everything else that mov reads is. */
        static const char *const images[] = {"heic", "heix", "hevc", "hevx", "heim",
                                             "heis", "hevm", "hevs", "mif1", "msf1",
                                             "avif", "avis", "jp2 ", "jpx ", "jpm "};
        for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
            if (memcmp(p + 8, images[i], 4) == 0)
                return 0;
        return 1;
    }
    /* QuickTime files without ftyp start with one of these atoms. */
    if (len >= 8) {
        static const char *const atoms[] = {"moov", "mdat", "wide", "free", "skip", "pnot"};
        for (size_t i = 0; i < sizeof(atoms) / sizeof(atoms[0]); i++)
            if (memcmp(p + 4, atoms[i], 4) == 0)
                return 1;
    }
    return 0;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

typedef struct run {
    const sitr_video_options_t *opt;
    sitr_vdemux_t dm;
    sitr_vpool_t *pool;
    int64_t period;
    int64_t decoded;
    int64_t packets;
    uint64_t decode_pixels;
    int last_w, last_h, last_fmt;
    unsigned size_changes;
    sitr_video_frame_t *frames;
    size_t count, cap;
} run_t;

static int canceled(const run_t *r)
{
    return r->opt->cancel != NULL && *r->opt->cancel != 0;
}

/* One frame out of the decoder: number it, check the limits, hand it to
 * the pool if selected.  Takes ownership of nothing: f is unreferenced by
 * the caller. */
static int on_frame(run_t *r, AVFrame *f, sitr_err_t *err)
{
    const sitr_video_limits_t *lim = &r->opt->limits;
    int64_t n = r->decoded++;
    if ((uint64_t)r->decoded > lim->max_frames)
        return sitr_err_set(err, SITR_ETOOBIG, "more than %ju frames", (uintmax_t)lim->max_frames);
    if (f->width <= 0 || f->height <= 0)
        return sitr_err_set(err, SITR_EBADVIDEO, "frame %jd has no size", (intmax_t)n);
    uint64_t px = (uint64_t)f->width * (uint64_t)f->height;
    if (px > lim->max_frame_pixels)
        return sitr_err_set(err, SITR_ETOOBIG, "frame %jd is %dx%d, more than %ju pixels",
                            (intmax_t)n, f->width, f->height, (uintmax_t)lim->max_frame_pixels);
    r->decode_pixels += px;
    if (r->decode_pixels > lim->max_decode_pixels)
        return sitr_err_set(err, SITR_ETOOBIG, "more than %ju decoded pixels in all",
                            (uintmax_t)lim->max_decode_pixels);
    if ((double)r->decoded / r->dm.fps > lim->max_duration)
        return sitr_err_set(err, SITR_ETOOBIG, "longer than the limit of %.0f s",
                            lim->max_duration);
    if (n > 0 && (f->width != r->last_w || f->height != r->last_h || f->format != r->last_fmt)) {
        if (++r->size_changes > lim->max_size_changes)
            return sitr_err_set(err, SITR_ETOOBIG, "the frame size changes more than %u times",
                                lim->max_size_changes);
    }
    r->last_w = f->width;
    r->last_h = f->height;
    r->last_fmt = f->format;

    if (n % r->period == 0) {
        AVFrame *ref = av_frame_clone(f);
        if (ref == NULL)
            return sitr_err_set(err, SITR_ENOMEM, "out of memory");
        double ts = (double)((float)n / (float)r->dm.fps);
        int rc = sitr_vpool_submit(r->pool, ref, n, ts, &r->frames, &r->count, &r->cap, err);
        if (rc < 0)
            return rc;
        if (r->opt->progress != NULL)
            r->opt->progress(r->opt->progress_ctx, (double)r->decoded / r->dm.fps,
                             r->dm.container_duration);
    }
    return 0;
}

static int decoder_error(int64_t n, int ret, sitr_err_t *err)
{
    if (ret == AVERROR(ENOMEM))
        return sitr_err_set(err, SITR_ENOMEM, "out of memory while decoding");
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(ret, msg, sizeof(msg));
    return sitr_err_set(err, SITR_EBADVIDEO, "the decoder failed after %jd frames: %s", (intmax_t)n,
                        msg);
}

/* Receives every frame the decoder has ready. */
static int drain(run_t *r, AVFrame *f, sitr_err_t *err)
{
    for (;;) {
        int ret = avcodec_receive_frame(r->dm.dec, f);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return decoder_error(r->decoded, ret, err);
        int rc = on_frame(r, f, err);
        av_frame_unref(f);
        if (rc < 0)
            return rc;
        if (canceled(r))
            return sitr_err_set(err, SITR_ECANCELED, "canceled");
    }
}

static int decode_all(run_t *r, sitr_err_t *err)
{
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int rc = 0;
    if (pkt == NULL || f == NULL) {
        rc = sitr_err_set(err, SITR_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        if (canceled(r)) {
            rc = sitr_err_set(err, SITR_ECANCELED, "canceled");
            goto out;
        }
        int ret = av_read_frame(r->dm.fmt, pkt);
        if (ret == AVERROR_EOF)
            break;
        if (ret < 0) {
            /* The reference takes any read error for the end of the file
             * and prints what it has; we refuse the partial result. */
            char msg[AV_ERROR_MAX_STRING_SIZE];
            av_strerror(ret, msg, sizeof(msg));
            rc = sitr_err_set(err, ret == AVERROR(ENOMEM) ? SITR_ENOMEM : SITR_EBADVIDEO,
                              "cannot read the video after %jd frames: %s", (intmax_t)r->decoded,
                              msg);
            goto out;
        }
        if (r->dm.fmt->nb_streams > r->opt->limits.max_streams) {
            av_packet_unref(pkt);
            rc =
                sitr_err_set(err, SITR_ETOOBIG, "more than %u streams", r->opt->limits.max_streams);
            goto out;
        }
        if (pkt->stream_index != r->dm.stream) {
            av_packet_unref(pkt);
            continue;
        }
        if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
            av_packet_unref(pkt);
            rc = sitr_err_set(err, SITR_EBADVIDEO, "damaged data after %jd frames",
                              (intmax_t)r->decoded);
            goto out;
        }
        r->packets++;
        ret = avcodec_send_packet(r->dm.dec, pkt);
        av_packet_unref(pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            rc = decoder_error(r->decoded, ret, err);
            goto out;
        }
        if ((rc = drain(r, f, err)) < 0)
            goto out;
    }
    if (r->dm.pb->error < 0) {
        rc = sitr_err_set(err, SITR_EIO, "read error after %jd frames", (intmax_t)r->decoded);
        goto out;
    }
    /* Flush: the frames the decoder still holds (reordering delay). */
    int ret = avcodec_send_packet(r->dm.dec, NULL);
    if (ret < 0 && ret != AVERROR_EOF) {
        rc = decoder_error(r->decoded, ret, err);
        goto out;
    }
    if ((rc = drain(r, f, err)) < 0)
        goto out;
    if (r->dm.declared_frames > 0 && r->packets < r->dm.declared_frames) {
        rc = sitr_err_set(err, SITR_EBADVIDEO,
                          "truncated: %jd of the %jd frames the container lists are present",
                          (intmax_t)r->packets, (intmax_t)r->dm.declared_frames);
        goto out;
    }
    if (r->decoded == 0)
        rc = sitr_err_set(err, SITR_ENOVIDEO, "no frame could be decoded");
out:
    av_packet_free(&pkt);
    av_frame_free(&f);
    return rc;
}

static int hash_source(sitr_vsrc_t *src, const sitr_video_options_t *opt, sitr_video_t **out,
                       sitr_video_stats_t *stats, sitr_err_t *err)
{
    run_t r;
    memset(&r, 0, sizeof(r));
    r.opt = opt;
    int threads = opt->threads > 0 ? opt->threads : online_cpus();
    if (threads > 256)
        threads = 256;
    /* Enough slots to keep every thread busy while the decoder runs ahead
     * by a frame or two; this bounds the frames in memory. */
    int slots = 2 * threads + 2;

    sitr_vdigest_t dg;
    int rc = sitr_vdigest_start(&dg, src, opt->cancel, err);
    if (rc < 0)
        return rc;
    int dg_rc = 0;
    rc = sitr_vdemux_open(&r.dm, src, &opt->limits, threads, err);
    if (rc < 0)
        goto out;
    double m = opt->seconds_per_hash * r.dm.fps;
    r.period = m >= 1e12 ? (int64_t)1e12 : (int64_t)m; /* truncated, as (int) in the reference */
    if (r.period < 1)
        r.period = 1;
    rc = sitr_vpool_new(&r.pool, threads, slots, opt->flags, err);
    if (rc < 0)
        goto out;
    rc = decode_all(&r, err);
    if (rc == 0)
        rc = sitr_vpool_finish(r.pool, &r.frames, &r.count, &r.cap, err);
    if (stats != NULL) {
        stats->slots = slots;
        stats->threads = threads;
        stats->max_in_flight = sitr_vpool_max_in_flight(r.pool);
        stats->packets = r.packets;
    }
out:
    sitr_vpool_free(r.pool);
    sitr_vdemux_close(&r.dm);
    dg_rc = sitr_vdigest_join(&dg);
    if (rc == 0 && dg_rc < 0)
        rc = sitr_err_set(err, dg_rc,
                          dg_rc == SITR_ECANCELED ? "canceled"
                                                  : "cannot read the file for its "
                                                    "digests");
    if (rc == 0 && r.count == 0)
        rc = sitr_err_set(err, SITR_ENOVIDEO, "no frame could be decoded");
    if (rc < 0) {
        free(r.frames);
        return rc;
    }
    sitr_video_t *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        free(r.frames);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    memcpy(v->md5, dg.md5, sizeof(v->md5));
    memcpy(v->sha256, dg.sha256, sizeof(v->sha256));
    v->width = r.dm.width;
    v->height = r.dm.height;
    v->fps = r.dm.fps;
    v->decoded_frames = r.decoded;
    v->duration = (double)r.decoded / r.dm.fps;
    v->period = r.period;
    v->count = r.count;
    v->frames = r.frames;
    *out = v;
    if (opt->progress != NULL)
        opt->progress(opt->progress_ctx, v->duration, v->duration);
    return 0;
}

static int check_options(const sitr_video_options_t *opt, sitr_err_t *err)
{
    unsigned known = SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED;
    if ((opt->flags & ~known) != 0 || !(opt->seconds_per_hash >= 0) ||
        opt->seconds_per_hash > MAX_SECONDS_PER_HASH || opt->threads < 0)
        return sitr_err_set(err, SITR_EINVAL, "invalid video options");
    return 0;
}

int sitr_video_hash_file_stats(const char *path, const sitr_video_options_t *opt,
                               sitr_video_t **out, sitr_video_stats_t *stats, sitr_err_t *err)
{
    sitr_video_options_t defaults;
    if (out != NULL)
        *out = NULL;
    if (opt == NULL) {
        sitr_video_options_default(&defaults);
        opt = &defaults;
    }
    if (path == NULL || out == NULL)
        return sitr_err_set(err, SITR_EINVAL, "invalid argument to sitr_video_hash_file");
    int rc = check_options(opt, err);
    if (rc < 0)
        return rc;
    sitr_vsrc_t src;
    rc = sitr_vsrc_open_file(&src, path, opt->limits.max_file_bytes, err);
    if (rc < 0)
        return rc;
    rc = hash_source(&src, opt, out, stats, err);
    sitr_vsrc_close(&src);
    return rc;
}

int sitr_video_hash_file(const char *path, const sitr_video_options_t *opt, sitr_video_t **out,
                         sitr_err_t *err)
{
    return sitr_video_hash_file_stats(path, opt, out, NULL, err);
}

int sitr_video_hash_memory(const void *data, size_t len, const sitr_video_options_t *opt,
                           sitr_video_t **out, sitr_err_t *err)
{
    sitr_video_options_t defaults;
    if (out != NULL)
        *out = NULL;
    if (opt == NULL) {
        sitr_video_options_default(&defaults);
        opt = &defaults;
    }
    if ((data == NULL && len > 0) || out == NULL)
        return sitr_err_set(err, SITR_EINVAL, "invalid argument to sitr_video_hash_memory");
    int rc = check_options(opt, err);
    if (rc < 0)
        return rc;
    sitr_vsrc_t src;
    rc = sitr_vsrc_open_memory(&src, data, len, opt->limits.max_file_bytes, err);
    if (rc < 0)
        return rc;
    rc = hash_source(&src, opt, out, NULL, err);
    sitr_vsrc_close(&src);
    return rc;
}
