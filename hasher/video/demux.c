/* Opening an untrusted video: container and decoder allow-lists, stream
 * choice, and the limits known before decoding (SPEC.md §2).
 *
 * libavformat reads only through our AVIOContext (source.c).  Nested opens
 * (HLS segments, concat entries, image2 patterns, MOV data references) are
 * impossible twice over: those demuxers are not on the format allow-list,
 * and io_open refuses every URL.  The protocol allow-list names no
 * protocol at all.  Decoders are chosen from a short list by name and the
 * same list is given to libavcodec as codec_whitelist, which also governs
 * the decoders avformat_find_stream_info opens while probing.
 *
 * Where we part from the reference: an attached picture (cover art) is
 * never taken for the video, while the reference hashes the first video
 * stream whatever its disposition.  Runs on the caller's thread. */
#include "video_int.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include <libavutil/log.h>

/* Every name libavformat gives the allowed demuxers (mov's one demuxer
 * answers to all six of the first names). */
static const char format_allow[] = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts";

/* Allowed decoders per codec, in order of preference.  AV1: Debian's
 * libavcodec has libdav1d and libaom; its native av1 decoder needs
 * hardware and is not listed. */
static const struct {
    enum AVCodecID id;
    const char *names[3];
} decoder_allow[] = {
    {AV_CODEC_ID_H264, {"h264", NULL, NULL}},
    {AV_CODEC_ID_HEVC, {"hevc", NULL, NULL}},
    {AV_CODEC_ID_VP8, {"vp8", "libvpx", NULL}},
    {AV_CODEC_ID_VP9, {"vp9", "libvpx-vp9", NULL}},
    {AV_CODEC_ID_AV1, {"libdav1d", "libaom-av1", NULL}},
    {AV_CODEC_ID_MPEG4, {"mpeg4", NULL, NULL}},
    {AV_CODEC_ID_MJPEG, {"mjpeg", NULL, NULL}},
};

static const char codec_allow[] =
    "h264,hevc,vp8,libvpx,vp9,libvpx-vp9,libdav1d,libaom-av1,mpeg4,mjpeg";

static int refuse_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options)
{
    (void)s;
    (void)url;
    (void)flags;
    (void)options;
    *pb = NULL;
    return AVERROR(EPERM);
}

static void quiet_log(void *avcl, int level, const char *fmt, va_list vl)
{
    (void)avcl;
    (void)level;
    (void)fmt;
    (void)vl;
}

/* The library never prints: FFmpeg's messages are dropped, once per
 * process.  SITR_VIDEO_DEBUG in the environment keeps them. */
static void quiet_once(void)
{
    if (getenv("SITR_VIDEO_DEBUG") == NULL)
        av_log_set_callback(quiet_log);
}

static const AVCodec *choose_decoder(enum AVCodecID id)
{
    for (size_t i = 0; i < sizeof(decoder_allow) / sizeof(decoder_allow[0]); i++) {
        if (decoder_allow[i].id != id)
            continue;
        /* libavcodec's own preference first, as the reference, when allowed. */
        const AVCodec *pref = avcodec_find_decoder(id);
        for (int k = 0; k < 3 && decoder_allow[i].names[k]; k++)
            if (pref && strcmp(pref->name, decoder_allow[i].names[k]) == 0)
                return pref;
        for (int k = 0; k < 3 && decoder_allow[i].names[k]; k++) {
            const AVCodec *c = avcodec_find_decoder_by_name(decoder_allow[i].names[k]);
            if (c != NULL)
                return c;
        }
        return NULL;
    }
    return NULL;
}

static double rate_of(AVRational r)
{
    if (r.num == 0 || r.den == 0)
        return 0;
    return (double)r.num / (double)r.den;
}

/* Reads an EBML variable-length integer at p[0..len); returns its length
 * (1-8) or 0, with *unknown set when every value bit is 1 ("size
 * unknown", as live recordings write). */
static int ebml_vint(const uint8_t *p, size_t len, uint64_t *v, int *unknown)
{
    if (len == 0 || p[0] == 0)
        return 0;
    int n = 1;
    while (!(p[0] & (0x80 >> (n - 1))))
        n++;
    if ((size_t)n > len)
        return 0;
    uint64_t x = p[0] & (0xffu >> n);
    int ones = x == (0xffu >> n);
    for (int i = 1; i < n; i++) {
        x = (x << 8) | p[i];
        ones = ones && p[i] == 0xff;
    }
    *v = x;
    *unknown = ones;
    return n;
}

/* Whether the container says it is longer than the file: a Matroska/WebM
 * Segment or an AVI RIFF chunk whose declared size runs past the end, or an
 * MPEG-TS file that ends inside a packet.  (MP4 and AVI truncation shows up as packets the
 * demuxer marks corrupt or missing from the index; an MPEG-TS cut at a
 * packet boundary is indistinguishable from a shorter stream.) */
static int container_truncated(const sitr_vdemux_t *d, const sitr_vsrc_t *src)
{
    const char *name = d->fmt->iformat->name;
    if (strcmp(name, "mpegts") == 0)
        return src->size % 188 != 0 && src->size % 192 != 0 && src->size % 204 != 0;
    if (strcmp(name, "avi") == 0) {
        /* The first RIFF chunk (the whole file below 1 GiB; OpenDML files
         * continue in AVIX chunks) must fit. */
        uint8_t r[8];
        if (sitr_vsrc_read_at(src, 0, r, sizeof(r)) < 8 || memcmp(r, "RIFF", 4) != 0)
            return 0;
        uint64_t riff =
            (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 | (uint64_t)r[7] << 24;
        return 8 + riff > src->size;
    }
    if (strncmp(name, "matroska", 8) != 0)
        return 0;
    uint8_t h[64];
    int64_t n = sitr_vsrc_read_at(src, 0, h, sizeof(h));
    if (n < 12 || h[0] != 0x1a || h[1] != 0x45 || h[2] != 0xdf || h[3] != 0xa3)
        return 0;
    uint64_t size, seg;
    int unknown;
    int k = ebml_vint(h + 4, (size_t)n - 4, &size, &unknown);
    if (k == 0 || unknown || size > (uint64_t)n)
        return 0;
    /* The EBML header is small; read the Segment element right after it. */
    uint64_t off = 4 + (uint64_t)k + size;
    uint8_t s[12];
    if (sitr_vsrc_read_at(src, off, s, sizeof(s)) < 12)
        return 0;
    if (!(s[0] == 0x18 && s[1] == 0x53 && s[2] == 0x80 && s[3] == 0x67))
        return 0;
    k = ebml_vint(s + 4, 8, &seg, &unknown);
    if (k == 0 || unknown)
        return 0;
    uint64_t start = off + 4 + (uint64_t)k;
    return seg > src->size || start + seg > src->size;
}

void sitr_vdemux_close(sitr_vdemux_t *d)
{
    avcodec_free_context(&d->dec);
    if (d->fmt != NULL)
        avformat_close_input(&d->fmt);
    sitr_vsrc_avio_free(&d->pb);
}

static int check_streams(const sitr_vdemux_t *d, const sitr_video_limits_t *lim, sitr_err_t *err)
{
    if (d->fmt->nb_streams > lim->max_streams)
        return sitr_err_set(err, SITR_ETOOBIG, "%u streams, more than the limit of %u",
                            d->fmt->nb_streams, lim->max_streams);
    return 0;
}

int sitr_vdemux_open(sitr_vdemux_t *d, sitr_vsrc_t *src, const sitr_video_limits_t *lim,
                     int dec_threads, sitr_err_t *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_once);

    memset(d, 0, sizeof(*d));
    d->stream = -1;
    AVDictionary *opts = NULL;
    int rc = 0;

    d->pb = sitr_vsrc_avio_new(src);
    d->fmt = avformat_alloc_context();
    if (d->pb == NULL || d->fmt == NULL) {
        rc = sitr_err_set(err, SITR_ENOMEM, "out of memory opening the video");
        goto fail;
    }
    d->fmt->pb = d->pb;
    d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    d->fmt->io_open = refuse_io_open;
    /* The stream limit is ours to check (check_streams, and on every
     * packet: MPEG-TS adds streams as it meets them); libavformat's own
     * cap (1000) stays as a backstop. */
    if (lim->max_streams > 1000)
        d->fmt->max_streams = (int)(lim->max_streams < INT_MAX ? lim->max_streams : INT_MAX);
    av_dict_set(&opts, "format_whitelist", format_allow, 0);
    av_dict_set(&opts, "codec_whitelist", codec_allow, 0);
    av_dict_set(&opts, "protocol_whitelist", "none", 0);
    int ret = avformat_open_input(&d->fmt, NULL, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        /* avformat_open_input frees the context on failure. */
        d->fmt = NULL;
        if (ret == AVERROR(ENOMEM))
            rc = sitr_err_set(err, SITR_ENOMEM,
                              "out of memory opening the video (or over 1000 streams)");
        else
            rc = sitr_err_set(err, SITR_ECODEC,
                              "not a video container sitr accepts (MP4/MOV/3GP, Matroska/WebM, "
                              "AVI, MPEG-TS), or a damaged or truncated one");
        goto fail;
    }
    if ((rc = check_streams(d, lim, err)) < 0)
        goto fail;
    if (container_truncated(d, src)) {
        rc = sitr_err_set(err, SITR_EBADVIDEO,
                          "truncated: the container declares more data than the file holds");
        goto fail;
    }
    ret = avformat_find_stream_info(d->fmt, NULL);
    if (ret < 0) {
        rc = sitr_err_set(err, SITR_EBADVIDEO, "cannot read the video's stream information");
        goto fail;
    }
    if ((rc = check_streams(d, lim, err)) < 0)
        goto fail;

    for (unsigned i = 0; i < d->fmt->nb_streams; i++) {
        const AVStream *st = d->fmt->streams[i];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            d->stream = (int)i;
            break;
        }
    }
    if (d->stream < 0) {
        rc = sitr_err_set(err, SITR_ENOVIDEO, "the file has no video stream");
        goto fail;
    }
    AVStream *st = d->fmt->streams[d->stream];
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
        if ((int)i != d->stream)
            d->fmt->streams[i]->discard = AVDISCARD_ALL;

    const AVCodecParameters *par = st->codecpar;
    const AVCodec *codec = choose_decoder(par->codec_id);
    if (codec == NULL) {
        const char *name = avcodec_get_name(par->codec_id);
        rc = sitr_err_set(err, SITR_ECODEC,
                          "video codec %s is not accepted (H.264, HEVC, VP8, VP9, AV1, "
                          "MPEG-4 part 2, MJPEG)",
                          name ? name : "unknown");
        goto fail;
    }
    if (par->width <= 0 || par->height <= 0) {
        rc = sitr_err_set(err, SITR_EBADVIDEO, "the video stream declares no frame size");
        goto fail;
    }
    if ((uint64_t)par->width * (uint64_t)par->height > lim->max_frame_pixels) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "frames of %dx%d, more than the limit of %ju pixels",
                          par->width, par->height, (uintmax_t)lim->max_frame_pixels);
        goto fail;
    }
    if (par->width < 5 || par->height < 5) {
        rc = sitr_err_set(err, SITR_ESMALLVIDEO, "frames of %dx%d, smaller than 5x5", par->width,
                          par->height);
        goto fail;
    }
    d->width = par->width;
    d->height = par->height;

    d->fps = rate_of(st->avg_frame_rate);
    if (d->fps == 0)
        d->fps = rate_of(st->r_frame_rate);
    if (!(d->fps > 0) || !isfinite(d->fps)) {
        rc = sitr_err_set(err, SITR_EBADVIDEO, "the video stream declares no frame rate");
        goto fail;
    }

    if (d->fmt->duration != AV_NOPTS_VALUE && d->fmt->duration > 0)
        d->container_duration = (double)d->fmt->duration / AV_TIME_BASE;
    if (d->container_duration > lim->max_duration) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "%.0f s long, more than the limit of %.0f s",
                          d->container_duration, lim->max_duration);
        goto fail;
    }
    if (st->nb_frames > 0)
        d->declared_frames = st->nb_frames;
    if (d->declared_frames > 0 && (uint64_t)d->declared_frames > lim->max_frames) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "%jd frames, more than the limit of %ju",
                          (intmax_t)d->declared_frames, (uintmax_t)lim->max_frames);
        goto fail;
    }

    d->dec = avcodec_alloc_context3(codec);
    if (d->dec == NULL) {
        rc = sitr_err_set(err, SITR_ENOMEM, "out of memory opening the decoder");
        goto fail;
    }
    if (avcodec_parameters_to_context(d->dec, par) < 0) {
        rc = sitr_err_set(err, SITR_EBADVIDEO, "bad codec parameters");
        goto fail;
    }
    /* The decoder itself refuses frames over the pixel limit before
     * allocating them. */
    d->dec->max_pixels =
        (int64_t)(lim->max_frame_pixels < INT64_MAX ? lim->max_frame_pixels : INT64_MAX);
    /* Threads change neither the frames nor their order (libavcodec's
     * decoders are bit-exact whatever the threading); frame threads make
     * the decoder keep up with the hashing threads. */
    d->dec->thread_count = dec_threads;
    d->dec->thread_type = dec_threads > 1 ? FF_THREAD_FRAME | FF_THREAD_SLICE : 0;
    av_dict_set(&opts, "codec_whitelist", codec_allow, 0);
    ret = avcodec_open2(d->dec, codec, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        rc = sitr_err_set(err, ret == AVERROR(ENOMEM) ? SITR_ENOMEM : SITR_ECODEC,
                          "cannot open the %s decoder", codec->name);
        goto fail;
    }
    return 0;

fail:
    av_dict_free(&opts);
    sitr_vdemux_close(d);
    return rc;
}
