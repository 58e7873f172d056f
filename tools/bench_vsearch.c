/* bench-vsearch: speed of video matching (not a test).
 *
 * 1. /v1/match video items: builds the case index with F stored case video
 *    frames (synthetic ten-minute videos at 5 fps: each frame a random walk
 *    step from the last, 8 bits flipped; every frame with its FLIPY variant
 *    as the storage policy keeps it, so 2 index entries per frame), through
 *    the replica's own path (replica_video.c into the catalogue, entries
 *    bulk-built), then answers Q sixty-frame video items at 1 fps through
 *    sitr_msearch_item on T threads: half are excerpts of stored videos with
 *    0-16 bits of noise per frame, half unrelated walks.  Prints videos/s,
 *    p50/p99 latency per item, the signals found, and the memory per frame
 *    and per index entry (index + catalogue).
 * 2. The matcher's side: an upload index of U stored video upload frames
 *    (sixty-frame videos at 1 fps; 1 in 200 an excerpt of the new case
 *    video), then the time of sitr_msearch_case_video (search of every
 *    stored hash of a new ten-minute 5-fps case video and the decision per
 *    video upload hit), median of 3.
 *
 * usage: bench-vsearch [-f case frames] [-q items] [-t threads] [-u upload frames]
 *                      [-m case frames for the matcher run] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "match/index.h"
#include "match/msearch.h"
#include "match/replica_video.h"
#include "match/vcat.h"
#include "match/vid.h"
#include "match/vpack.h"
#include "pdq_synth.h"

#define CASE_VIDEO 3000 /* frames: 10 minutes at 5 fps */
#define ITEM       60   /* frames of a /v1/match video item: 1 minute at 1 fps */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

typedef struct entries {
    sitr_index_entry_t *v;
    size_t n, cap;
} entries_t;

static int push(void *arg, const sitr_pdq_t *h, uint64_t id)
{
    entries_t *e = arg;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 1u << 20;
        e->v = realloc(e->v, e->cap * sizeof *e->v);
        if (!e->v) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    e->v[e->n++] = (sitr_index_entry_t){*h, id};
    return 0;
}

/* A walk of n frames at `period` seconds; case frames get a FLIPY hash. */
static void walk(sitr_vframe_in_t *f, size_t n, double period, int case_side)
{
    sitr_pdq_t cur;
    sitr_synth_hash(&rng, &cur);
    for (size_t i = 0; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        sitr_synth_flip_bits(&rng, &cur, 8);
        f[i].n = (uint32_t)i;
        f[i].t = (double)i * period;
        f[i].pdq = cur;
        f[i].quality = 90;
        if (case_side) {
            f[i].has_dihedral = 1;
            f[i].dihedral[0] = cur;
            sitr_synth_hash(&rng, &f[i].dihedral[SITR_PDQ_FLIPY]);
        }
    }
}

/* Packs and adds one video (the replica's path); returns its entries. */
static void add_video(sitr_vcat_t *cat, entries_t *e, int64_t id, const sitr_vframe_in_t *f,
                      size_t n, sitr_vpack_role_t role)
{
    uint8_t *buf;
    size_t len, kept;
    if (sitr_vpack(f, n, role, SITR_VPACK_VARIANTS_DEFAULT, &buf, &len, &kept, NULL) < 0 ||
        sitr_replica_video_add(cat, id, buf, len, -1, push, e) < 0) {
        fprintf(stderr, "cannot add a video\n");
        exit(1);
    }
    free(buf);
}

typedef struct job {
    const sitr_replica_indexes_t *ix;
    sitr_msearch_item_t *items;
    size_t from, to;
    double *lat;
    size_t signals[6];
} job_t;

static void *run(void *p)
{
    job_t *j = p;
    sitr_msearch_t *s = sitr_msearch_new(j->ix, 31, NULL);
    sitr_msearch_match_t out[50];
    for (size_t i = j->from; i < j->to; i++) {
        double t0 = now();
        long k = sitr_msearch_item(s, &j->items[i], out, 50);
        j->lat[i] = now() - t0;
        for (long m = 0; m < k && m < 50; m++)
            j->signals[out[m].signal]++;
    }
    sitr_msearch_free(s);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t nframes = 10000000, nq = 2000, nupload = 1000000, mframes = CASE_VIDEO;
    int threads = 2, opt;
    while ((opt = getopt(argc, argv, "f:q:t:u:m:")) != -1) {
        switch (opt) {
        case 'f':
            nframes = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            nq = strtoull(optarg, NULL, 10);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'u':
            nupload = strtoull(optarg, NULL, 10);
            break;
        case 'm':
            mframes = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-f case frames] [-q items] [-t threads] [-u upload "
                    "frames] [-m matcher case frames]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || nq == 0 || mframes == 0 || mframes > CASE_VIDEO * 4)
        return 2;

    /* ---- 1. the case index ---- */
    sitr_replica_indexes_t ix;
    memset(&ix, 0, sizeof ix);
    ix.case_pdq = sitr_index_new();
    ix.upload_pdq = sitr_index_new();
    ix.case_videos = sitr_vcat_new(0);
    ix.upload_videos = sitr_vcat_new(1);
    size_t nvideos = (nframes + CASE_VIDEO - 1) / CASE_VIDEO;
    sitr_vframe_in_t *f = xmalloc(CASE_VIDEO * 4 * sizeof *f);
    /* The stored videos' plain hashes, for planting queries. */
    sitr_pdq_t *stored = xmalloc(nvideos * CASE_VIDEO * sizeof *stored);
    entries_t e = {0};
    double t0 = now();
    for (size_t v = 0; v < nvideos; v++) {
        size_t n = v + 1 < nvideos ? CASE_VIDEO : nframes - v * CASE_VIDEO;
        walk(f, n, 0.2, 1);
        for (size_t i = 0; i < n; i++)
            stored[v * CASE_VIDEO + i] = f[i].pdq;
        add_video(ix.case_videos, &e, (int64_t)v + 1, f, n, SITR_VPACK_CASE);
    }
    double t1 = now();
    if (sitr_index_bulk_build(ix.case_pdq, e.v, e.n, 2) < 0) {
        fprintf(stderr, "index build failed\n");
        return 1;
    }
    double t2 = now();
    size_t entries = e.n;
    free(e.v);
    e = (entries_t){0};
    sitr_index_stats_t st;
    sitr_index_stats(ix.case_pdq, &st);
    size_t catb = sitr_vcat_bytes(ix.case_videos);
    printf("case index: %zu frames in %zu videos, %zu entries; pack+catalogue %.1f s, build "
           "%.1f s\n",
           nframes, nvideos, entries, t1 - t0, t2 - t1);
    printf("memory: index %.1f bytes/entry, catalogue %.1f bytes/frame; %.1f bytes per stored "
           "frame (%.1f per entry) in all\n",
           (double)st.bytes / (double)entries, (double)catb / (double)nframes,
           (double)(st.bytes + catb) / (double)nframes,
           (double)(st.bytes + catb) / (double)entries);

    /* Queries: half excerpts (every 5th stored frame = 1 fps, noise), half
     * unrelated walks. */
    sitr_msearch_item_t *items = xmalloc(nq * sizeof *items);
    sitr_vframe_in_t *qf = xmalloc(nq * ITEM * sizeof *qf);
    for (size_t i = 0; i < nq; i++) {
        sitr_vframe_in_t *x = qf + i * ITEM;
        if (i % 2 == 0) {
            size_t v = sitr_synth_next(&rng) % nvideos;
            size_t n = v + 1 < nvideos ? CASE_VIDEO : nframes - v * CASE_VIDEO;
            size_t from = n > ITEM * 5 ? sitr_synth_next(&rng) % (n - ITEM * 5) : 0;
            for (size_t k = 0; k < ITEM; k++) {
                memset(&x[k], 0, sizeof x[k]);
                size_t slot = from + k * 5 < n ? from + k * 5 : n - 1;
                x[k].pdq = stored[v * CASE_VIDEO + slot];
                sitr_synth_flip_bits(&rng, &x[k].pdq, (int)(sitr_synth_next(&rng) % 17));
                x[k].n = (uint32_t)k;
                x[k].t = (double)k;
                x[k].quality = 90;
            }
        } else {
            walk(x, ITEM, 1.0, 0);
        }
        memset(&items[i], 0, sizeof items[i]);
        items[i].frames = x;
        items[i].nframes = ITEM;
    }
    double *lat = xmalloc(nq * sizeof *lat);
    job_t *jobs = xmalloc((size_t)threads * sizeof *jobs);
    pthread_t *tid = xmalloc((size_t)threads * sizeof *tid);
    double w0 = now();
    for (int t = 0; t < threads; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t] = (job_t){
            &ix, items, nq * (size_t)t / (size_t)threads, nq * (size_t)(t + 1) / (size_t)threads,
            lat, {0}};
        pthread_create(&tid[t], NULL, run, &jobs[t]);
    }
    size_t sig[6] = {0};
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        for (int s = 0; s < 6; s++)
            sig[s] += jobs[t].signals[s];
    }
    double wall = now() - w0;
    qsort(lat, nq, sizeof *lat, cmp_double);
    printf("/v1/match video items (%d frames, plain hashes, 1 fps): %zu items on %d threads in "
           "%.2f s: %.1f videos/s (%.0f frame lookups/s); latency p50 %.1f ms, p99 %.1f ms\n",
           ITEM, nq, threads, wall, (double)nq / wall, (double)nq * ITEM / wall, lat[nq / 2] * 1e3,
           lat[nq * 99 / 100] * 1e3);
    printf("answers: %zu vpdq_copy, %zu vpdq_excerpt, %zu video_frame (of %zu planted "
           "excerpts)\n",
           sig[SITR_SIGNAL_VPDQ_COPY], sig[SITR_SIGNAL_VPDQ_EXCERPT], sig[SITR_SIGNAL_VIDEO_FRAME],
           (nq + 1) / 2);
    /* Image items (the old path's workload): sitr_msearch_batch against
     * the bare sitr_index_search_batch over the same hashes, one thread,
     * in requests of 1000 items. */
    size_t ni = 20000;
    sitr_msearch_item_t *im = xmalloc(ni * sizeof *im);
    sitr_pdq_t *iq = xmalloc(ni * sizeof *iq);
    for (size_t i = 0; i < ni; i++) {
        memset(&im[i], 0, sizeof im[i]);
        if (i % 2 == 0) {
            size_t v = sitr_synth_next(&rng) % nvideos;
            size_t n = v + 1 < nvideos ? CASE_VIDEO : nframes - v * CASE_VIDEO;
            iq[i] = stored[v * CASE_VIDEO + sitr_synth_next(&rng) % n];
            sitr_synth_flip_bits(&rng, &iq[i], (int)(sitr_synth_next(&rng) % 17));
        } else {
            sitr_synth_hash(&rng, &iq[i]);
        }
        im[i].has_pdq = 1;
        im[i].pdq = iq[i];
        im[i].quality = 90;
    }
    sitr_msearch_t *ms = sitr_msearch_new(&ix, 31, NULL);
    sitr_msearch_match_t *mout = xmalloc(1000 * 50 * sizeof *mout);
    long *mfound = xmalloc(1000 * sizeof *mfound);
    double i0 = now();
    for (size_t i = 0; i < ni; i += 1000)
        if (sitr_msearch_batch(ms, im + i, 1000, mout, 50, mfound) < 0)
            return 1;
    double i1 = now();
    sitr_index_hit_t *bh = xmalloc(64 * 32 * sizeof *bh);
    size_t bfound[64];
    for (size_t i = 0; i < ni; i += 64)
        if (sitr_index_search_batch(ix.case_pdq, iq + i, ni - i < 64 ? ni - i : 64, 31, bh, 32,
                                    bfound, NULL) < 0)
            return 1;
    double i2 = now();
    printf("image items, 1 thread: sitr_msearch_batch %.0f items/s, bare "
           "sitr_index_search_batch %.0f queries/s (the floor)\n",
           (double)ni / (i1 - i0), (double)ni / (i2 - i1));
    sitr_msearch_free(ms);
    free(mout);
    free(mfound);
    free(bh);
    free(im);
    free(iq);
    free(lat);
    free(jobs);
    free(tid);
    free(items);
    free(qf);
    free(stored);
    sitr_index_free(ix.case_pdq);
    ix.case_pdq = sitr_index_new();
    sitr_vcat_clear(ix.case_videos);

    /* ---- 2. the matcher: a new case video against U upload frames ---- */
    walk(f, mframes, 0.2, 1);
    for (size_t i = 0; i < mframes; i++)
        if (i % 10 == 3) { /* frames with bars keep a trimmed hash */
            f[i].has_trimmed = 1;
            sitr_synth_hash(&rng, &f[i].trimmed);
            f[i].trimmed_quality = 80;
        }
    size_t nup = (nupload + ITEM - 1) / ITEM, planted = 0;
    sitr_vframe_in_t u[ITEM];
    t0 = now();
    for (size_t k = 0; k < nup; k++) {
        if (k % 200 == 0 && mframes > ITEM * 5) {
            size_t from = sitr_synth_next(&rng) % (mframes - ITEM * 5);
            for (size_t i = 0; i < ITEM; i++) {
                memset(&u[i], 0, sizeof u[i]);
                u[i].pdq = f[from + i * 5].pdq;
                sitr_synth_flip_bits(&rng, &u[i].pdq, (int)(sitr_synth_next(&rng) % 17));
                u[i].n = (uint32_t)i;
                u[i].t = (double)i;
                u[i].quality = 90;
            }
            planted++;
        } else {
            walk(u, ITEM, 1.0, 0);
        }
        add_video(ix.upload_videos, &e, (int64_t)k + 1, u, ITEM, SITR_VPACK_UPLOAD);
    }
    if (sitr_index_bulk_build(ix.upload_pdq, e.v, e.n, 2) < 0)
        return 1;
    printf("upload index: %zu frames in %zu video uploads (%zu excerpts of the new case video), "
           "built in %.1f s\n",
           e.n, nup, planted, now() - t0);
    free(e.v);
    e = (entries_t){0};
    uint8_t *buf;
    size_t len, kept;
    if (sitr_vpack(f, mframes, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_DEFAULT, &buf, &len, &kept,
                   NULL) < 0 ||
        sitr_replica_video_add(ix.case_videos, 1, buf, len, -1, push, &e) < 0)
        return 1;
    sitr_msearch_t *s = sitr_msearch_new(&ix, 31, NULL);
    double best[3];
    long found = 0;
    for (int r = 0; r < 3; r++) {
        double m0 = now();
        found = sitr_msearch_case_video(s, 1, buf, len);
        best[r] = now() - m0;
    }
    qsort(best, 3, sizeof *best, cmp_double);
    size_t nres, excerpts = 0;
    const sitr_msearch_match_t *res = sitr_msearch_results(s, &nres);
    for (size_t i = 0; i < nres; i++)
        excerpts += res[i].signal == SITR_SIGNAL_VPDQ_EXCERPT;
    printf("matcher: new case video of %zu frames (%zu hashes searched) against %zu upload "
           "frames: %.3f s (median of 3), %ld uploads matched, %zu as excerpts\n",
           mframes, e.n, nup * ITEM, best[1], found, excerpts);
    sitr_msearch_free(s);
    free(buf);
    free(e.v);
    free(f);
    sitr_index_free(ix.case_pdq);
    sitr_index_free(ix.upload_pdq);
    sitr_vcat_free(ix.case_videos);
    sitr_vcat_free(ix.upload_videos);
    return 0;
}
