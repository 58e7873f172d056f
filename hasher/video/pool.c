/* The hashing threads.  The decoding thread hands each selected frame (a
 * reference to the decoder's buffer) to a ring of slots; a free thread
 * converts it to RGB24 with libswscale exactly as the reference does
 * (SPEC.md §4: same size, SWS_AREA, default BT.601, into a buffer from
 * av_frame_get_buffer), computes the float luma and PDQ (with dihedral
 * variants if asked), and, if asked, the hash of the frame without its
 * uniform borders.
 *
 * Order and memory: slots are filled and collected strictly in frame
 * order, and the decoding thread waits for the oldest slot before reusing
 * it, so at most nslots frames are in flight and the results come out in
 * frame order whatever the number of threads or their timing.  Each thread
 * keeps its own scaler (rebuilt only when the frame size or pixel format
 * changes), RGB frame and luma buffers. */
#include "video_int.h"

#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

enum { SLOT_FREE, SLOT_PENDING, SLOT_RUNNING, SLOT_DONE };

typedef struct slot {
    int state;
    AVFrame *frame;
    sitr_video_frame_t res;
    int rc;
    sitr_err_t err;
} slot_t;

typedef struct worker {
    sitr_vpool_t *pool;
    pthread_t thread;
    struct SwsContext *sws;
    int sw, sh, sfmt;
    AVFrame *rgb;
    float *luma;
    float *crop;
    size_t luma_cap;
} worker_t;

struct sitr_vpool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a slot became pending, or stop */
    pthread_cond_t done_cv; /* a slot became done */
    slot_t *slots;
    int nslots;
    uint64_t head; /* oldest slot not yet collected */
    uint64_t tail; /* next slot to fill */
    uint64_t next; /* next pending slot for a thread to take */
    int stop;
    int in_flight;
    int max_in_flight;
    unsigned flags;
    worker_t *workers;
    int nworkers;
};

static int work_frame(worker_t *w, AVFrame *f, sitr_video_frame_t *res, sitr_err_t *err)
{
    int width = f->width, height = f->height;
    if (width < 5 || height < 5)
        return sitr_err_set(err, SITR_ESMALLVIDEO, "frame %jd is %dx%d, smaller than 5x5",
                            (intmax_t)res->number, width, height);
    if (w->sws == NULL || w->sw != width || w->sh != height || w->sfmt != f->format) {
        sws_freeContext(w->sws);
        w->sws = sws_getContext(width, height, (enum AVPixelFormat)f->format, width, height,
                                AV_PIX_FMT_RGB24, SWS_AREA, NULL, NULL, NULL);
        if (w->sws == NULL) {
            w->sw = 0;
            return sitr_err_set(err, SITR_ECODEC, "cannot convert %s frames to RGB",
                                av_get_pix_fmt_name((enum AVPixelFormat)f->format)
                                    ? av_get_pix_fmt_name((enum AVPixelFormat)f->format)
                                    : "unknown");
        }
        w->sw = width;
        w->sh = height;
        w->sfmt = f->format;
        av_frame_unref(w->rgb);
        w->rgb->format = AV_PIX_FMT_RGB24;
        w->rgb->width = width;
        w->rgb->height = height;
        if (av_frame_get_buffer(w->rgb, 0) < 0) {
            w->sw = 0;
            return sitr_err_set(err, SITR_ENOMEM, "out of memory for a %dx%d RGB frame", width,
                                height);
        }
        size_t px = (size_t)width * (size_t)height;
        if (px > w->luma_cap) {
            free(w->luma);
            free(w->crop);
            w->luma = malloc(px * sizeof(float));
            w->crop = malloc(px * sizeof(float));
            w->luma_cap = w->luma && w->crop ? px : 0;
            if (w->luma_cap == 0) {
                w->sw = 0;
                return sitr_err_set(err, SITR_ENOMEM, "out of memory for a %dx%d frame", width,
                                    height);
            }
        }
    }
    sws_scale(w->sws, (const uint8_t *const *)f->data, f->linesize, 0, height, w->rgb->data,
              w->rgb->linesize);
    sitr_video_rgb_luma(w->rgb->data[0], w->rgb->linesize[0], width, height, w->luma);

    unsigned pdq_flags = w->pool->flags & SITR_PDQ_WANT_DIHEDRAL;
    int rc = sitr_pdq_hash(w->luma, height, width, pdq_flags, &res->pdq);
    if (rc < 0)
        return sitr_err_set(err, rc, "PDQ failed on frame %jd: %s", (intmax_t)res->number,
                            sitr_strerror(rc));
    if (w->pool->flags & SITR_VIDEO_WANT_TRIMMED) {
        sitr_vrect_t c;
        if (sitr_video_find_borders(w->luma, width, height, &c)) {
            sitr_pdq_result_t t;
            sitr_video_luma_crop(w->luma, width, c.x, c.y, c.w, c.h, w->crop);
            rc = sitr_pdq_hash(w->crop, c.h, c.w, 0, &t);
            if (rc < 0)
                return sitr_err_set(err, rc, "PDQ failed on frame %jd: %s", (intmax_t)res->number,
                                    sitr_strerror(rc));
            res->has_trimmed = 1;
            res->trimmed = t.hash;
            res->trimmed_quality = t.quality;
        }
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    sitr_vpool_t *p = w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next == p->tail)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->stop)
            break;
        slot_t *s = &p->slots[p->next % (uint64_t)p->nslots];
        p->next++;
        s->state = SLOT_RUNNING;
        pthread_mutex_unlock(&p->mu);

        s->rc = work_frame(w, s->frame, &s->res, &s->err);
        av_frame_free(&s->frame);

        pthread_mutex_lock(&p->mu);
        s->state = SLOT_DONE;
        p->in_flight--;
        pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int sitr_vpool_new(sitr_vpool_t **out, int nthreads, int nslots, unsigned flags, sitr_err_t *err)
{
    *out = NULL;
    sitr_vpool_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    p->flags = flags;
    p->nslots = nslots;
    p->slots = calloc((size_t)nslots, sizeof(*p->slots));
    p->workers = calloc((size_t)nthreads, sizeof(*p->workers));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (p->slots == NULL || p->workers == NULL) {
        sitr_vpool_free(p);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nthreads; i++) {
        worker_t *w = &p->workers[i];
        w->pool = p;
        w->rgb = av_frame_alloc();
        if (w->rgb == NULL) {
            sitr_vpool_free(p);
            return sitr_err_set(err, SITR_ENOMEM, "out of memory");
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            av_frame_free(&w->rgb);
            sitr_vpool_free(p);
            return sitr_err_set(err, SITR_ENOMEM, "cannot start a hashing thread");
        }
        p->nworkers++;
    }
    *out = p;
    return 0;
}

/* Appends the result of the oldest slot once it is done.  Called with the
 * lock held; drops it while copying. */
static int collect_oldest(sitr_vpool_t *p, sitr_video_frame_t **frames, size_t *count, size_t *cap,
                          sitr_err_t *err)
{
    slot_t *s = &p->slots[p->head % (uint64_t)p->nslots];
    while (s->state != SLOT_DONE)
        pthread_cond_wait(&p->done_cv, &p->mu);
    p->head++;
    s->state = SLOT_FREE;
    if (s->rc < 0) {
        if (err != NULL)
            *err = s->err;
        return s->rc;
    }
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        sitr_video_frame_t *n = realloc(*frames, ncap * sizeof(**frames));
        if (n == NULL)
            return sitr_err_set(err, SITR_ENOMEM, "out of memory for the frame list");
        *frames = n;
        *cap = ncap;
    }
    (*frames)[(*count)++] = s->res;
    return 0;
}

int sitr_vpool_submit(sitr_vpool_t *p, AVFrame *frame, int64_t n, double ts,
                      sitr_video_frame_t **frames, size_t *count, size_t *cap, sitr_err_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    /* Collect what is already finished, and make room if every slot is busy. */
    while (p->head < p->tail && (p->tail - p->head == (uint64_t)p->nslots ||
                                 p->slots[p->head % (uint64_t)p->nslots].state == SLOT_DONE)) {
        rc = collect_oldest(p, frames, count, cap, err);
        if (rc < 0) {
            pthread_mutex_unlock(&p->mu);
            av_frame_free(&frame);
            return rc;
        }
    }
    slot_t *s = &p->slots[p->tail % (uint64_t)p->nslots];
    memset(&s->res, 0, sizeof(s->res));
    s->res.number = n;
    s->res.timestamp = ts;
    s->frame = frame;
    s->rc = 0;
    s->state = SLOT_PENDING;
    p->tail++;
    p->in_flight++;
    if (p->in_flight > p->max_in_flight)
        p->max_in_flight = p->in_flight;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int sitr_vpool_finish(sitr_vpool_t *p, sitr_video_frame_t **frames, size_t *count, size_t *cap,
                      sitr_err_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (rc == 0 && p->head < p->tail)
        rc = collect_oldest(p, frames, count, cap, err);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int sitr_vpool_max_in_flight(const sitr_vpool_t *p)
{
    return p->max_in_flight;
}

void sitr_vpool_free(sitr_vpool_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) {
        worker_t *w = &p->workers[i];
        pthread_join(w->thread, NULL);
        sws_freeContext(w->sws);
        av_frame_free(&w->rgb);
        free(w->luma);
        free(w->crop);
    }
    /* Frames handed over but never taken by a thread. */
    for (int i = 0; p->slots != NULL && i < p->nslots; i++)
        av_frame_free(&p->slots[i].frame);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->slots);
    free(p->workers);
    free(p);
}
