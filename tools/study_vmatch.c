/* study-vmatch: the measurements behind the video matching parameters
 * (docs/VIDEO_MATCHING.md).  Not a test; run by hand:
 *
 *   study-vmatch sampling   case sampling rate vs excerpt/copy recall, from
 *                           the every-frame reference hashes (ref-debian12)
 *   study-vmatch samples    Meta's 14 sample videos, all ordered pairs
 *   study-vmatch transforms mirrored, letterboxed, watermarked copies made
 *                           with the ffmpeg program, hashed with libsitrvideo
 *   study-vmatch corpus     unrelated clips (PDQ test stills animated with
 *                           ffmpeg): false matches per pair
 *
 * Hits are computed by brute force (every query hash against every stored
 * case hash), which is what the exact index returns.  Temporary videos go
 * to $TMPDIR (default /tmp) and are removed. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sitr/pdq.h>
#include <sitr/video.h>

#include "match/vmatch.h"

#define MAXF 20000

/* snprintf that refuses to truncate (paths and commands). */
__attribute__((format(printf, 3, 4))) static void xfmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "path or command too long\n");
        exit(2);
    }
}

/* ---- frames and stored case videos ---------------------------------------- */

typedef struct vid {
    size_t n;
    double *t;
    int *q;
    sitr_pdq_t *h; /* n x SITR_VMATCH_VARIANTS */
    unsigned *has; /* per frame: bit v when variant v is present */
    int *tq;       /* trimmed quality */
    double duration;
    double fps;
} vid_t;

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static vid_t *vid_new(size_t n)
{
    vid_t *v = xcalloc(1, sizeof *v);
    v->n = n;
    v->t = xcalloc(n, sizeof *v->t);
    v->q = xcalloc(n, sizeof *v->q);
    v->tq = xcalloc(n, sizeof *v->tq);
    v->h = xcalloc(n * SITR_VMATCH_VARIANTS, sizeof *v->h);
    v->has = xcalloc(n, sizeof *v->has);
    return v;
}

static void vid_free(vid_t *v)
{
    if (!v)
        return;
    free(v->t);
    free(v->q);
    free(v->tq);
    free(v->h);
    free(v->has);
    free(v);
}

/* Reads a reference hash file "n,quality,hex,t" (every frame, 30 fps). */
static vid_t *load_ref(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(2);
    }
    vid_t *v = vid_new(MAXF);
    size_t n = 0;
    char line[256], hex[80];
    long fn;
    int q;
    double t;
    while (n < MAXF && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%ld,%d,%70[0-9a-f],%lf", &fn, &q, hex, &t) != 4)
            continue;
        if (sitr_pdq_from_hex(hex, strlen(hex), &v->h[n * SITR_VMATCH_VARIANTS]) != 0)
            continue;
        v->t[n] = (double)fn / 30.0;
        v->q[n] = q;
        v->has[n] = 1u;
        n++;
    }
    fclose(f);
    v->n = n;
    v->fps = 30;
    v->duration = (double)n / 30.0;
    return v;
}

/* Frames [from, to) of v with n % step == phase, times relative to from. */
static vid_t *vid_select(const vid_t *v, size_t from, size_t to, size_t step, size_t phase)
{
    vid_t *o = vid_new(to - from);
    size_t k = 0;
    for (size_t i = from; i < to; i++) {
        if ((i - from) % step != phase)
            continue;
        o->t[k] = v->t[i] - v->t[from];
        o->q[k] = v->q[i];
        o->tq[k] = v->tq[i];
        o->has[k] = v->has[i];
        memcpy(&o->h[k * SITR_VMATCH_VARIANTS], &v->h[i * SITR_VMATCH_VARIANTS],
               SITR_VMATCH_VARIANTS * sizeof *v->h);
        k++;
    }
    o->n = k;
    o->duration = (double)(to - from) / (v->fps > 0 ? v->fps : 30);
    o->fps = v->fps;
    return o;
}

typedef struct stats {
    size_t pairs, copy, pytx, excerpt, still;
} stats_t;

typedef struct cfg {
    sitr_vmatch_params_t p;
    unsigned store; /* stored variants (bit v) on the case side */
    int qtrim;      /* the query also searches with its trimmed hashes */
    double case_period;
} cfg_t;

/* The index's answer for a query (1 plain hash per frame, optionally its
 * trimmed hash) against a stored case (dedupe by plain hash, quality
 * filter, the stored variants), then the decision. */
static sitr_vmatch_result_t run_pair(const vid_t *qv, const vid_t *cv, const cfg_t *c)
{
    static sitr_vmatch_frame_t qf[MAXF];
    static uint32_t work[2 * MAXF], cid[MAXF];
    static sitr_vmatch_hit_t hits[1024 * 1024];
    static unsigned char scratch[48 * 1024 * 1024];
    for (size_t i = 0; i < qv->n; i++) {
        qf[i].t = qv->t[i];
        qf[i].pdq = qv->h[i * SITR_VMATCH_VARIANTS];
        qf[i].quality = qv->q[i];
    }
    sitr_vmatch_query_t q;
    if (sitr_vmatch_query_prepare(&q, qf, qv->n, work, &c->p) != 0) {
        fprintf(stderr, "bad query\n");
        exit(2);
    }
    uint32_t nd = 0;
    for (size_t j = 0; j < cv->n; j++) {
        cid[j] = UINT32_MAX;
        if (cv->q[j] < c->p.min_quality)
            continue;
        int dup = 0;
        for (size_t k = 0; k < j && !dup; k++)
            dup = cv->q[k] >= 0 && memcmp(&cv->h[k * SITR_VMATCH_VARIANTS],
                                          &cv->h[j * SITR_VMATCH_VARIANTS], SITR_PDQ_BYTES) == 0;
        if (!dup)
            cid[j] = nd++;
    }
    size_t n = 0;
    for (size_t i = 0; i < qv->n; i++) {
        if (q.rep[i] == UINT32_MAX)
            continue;
        for (int qt = 0; qt <= (c->qtrim ? 1 : 0); qt++) {
            const sitr_pdq_t *qh =
                &qv->h[i * SITR_VMATCH_VARIANTS + (qt ? SITR_VMATCH_TRIMMED : 0)];
            if (qt && (!(qv->has[i] & (1u << SITR_VMATCH_TRIMMED)) || qv->tq[i] < c->p.min_quality))
                continue;
            for (size_t j = 0; j < cv->n; j++) {
                if (cid[j] == UINT32_MAX)
                    continue;
                for (int v = 0; v < SITR_VMATCH_VARIANTS; v++) {
                    if (!(c->store & cv->has[j] & (1u << v)))
                        continue;
                    if (v == SITR_VMATCH_TRIMMED && cv->tq[j] < c->p.min_quality)
                        continue;
                    int d = sitr_pdq_distance(qh, &cv->h[j * SITR_VMATCH_VARIANTS + v]);
                    if (d > c->p.max_distance || n >= sizeof hits / sizeof hits[0])
                        continue;
                    sitr_vmatch_hit_t *h = &hits[n++];
                    memset(h, 0, sizeof *h);
                    h->qframe = (uint32_t)i;
                    h->cframe = cid[j];
                    h->c0 = h->c1 = cv->t[j];
                    h->variant = (uint8_t)v;
                    h->qtrim = (uint8_t)qt;
                    h->distance = (uint16_t)d;
                }
            }
        }
    }
    sitr_vmatch_case_t cs = {nd, cv->duration, c->case_period};
    sitr_vmatch_result_t r;
    size_t need = sitr_vmatch_scratch_size(qv->n, nd, n);
    if (need > sizeof scratch || sitr_vmatch_decide(&q, &cs, hits, n, &c->p, scratch, need, &r)) {
        fprintf(stderr, "scratch\n");
        exit(2);
    }
    return r;
}

static void tally(stats_t *s, const sitr_vmatch_result_t *r)
{
    s->pairs++;
    s->copy += (size_t)r->copy;
    s->pytx += (size_t)r->copy_pytx;
    s->excerpt += (size_t)r->excerpt;
    s->still += (size_t)r->still;
}

static double pc(size_t a, size_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0;
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return (unsigned)((rs * 2685821657736338717ull) >> 33) % n;
}

static void header(const char *what)
{
    char host[128] = "?";
    gethostname(host, sizeof host);
    time_t now = time(NULL);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%d", gmtime(&now));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("## %s (%s, %ld CPUs, %s)\n\n", what, host, cpus, day);
}

static const char *VIDS[] = {"chair-19-sd-bar",
                             "chair-20-sd-bar",
                             "chair-22-sd-grey-bar",
                             "chair-22-sd-sepia-bar",
                             "chair-22-with-large-logo-bar",
                             "chair-22-with-small-logo-bar",
                             "chair-orig-22-sd-bar",
                             "doorknob-hd-no-bar",
                             "pattern-hd-no-bar",
                             "pattern-longer-no-bar",
                             "pattern-sd-grey-bar",
                             "pattern-sd-with-large-logo-bar",
                             "pattern-sd-with-small-logo-bar",
                             "test-padded-dimensions"};
#define NVIDS (sizeof VIDS / sizeof VIDS[0])

static vid_t *load_named(const char *dir, const char *name)
{
    char path[1024];
    xfmt(path, sizeof path, "%s/%s.s0.txt", dir, name);
    return load_ref(path);
}

/* Every-frame reference -> the case at sampling step m (frames 0, m, 2m). */
static const int RATES_STEP[] = {30, 15, 7, 6, 1};
static const char *RATES_NAME[] = {"1 fps", "2 fps", "4 fps (s=0.25)", "5 fps", "every frame"};

static void cfg_default(cfg_t *c, int step)
{
    sitr_vmatch_params_default(&c->p);
    c->p.families = 1u;
    c->store = 1u;
    c->qtrim = 0;
    c->case_period = step / 30.0;
}

/* ---- sampling ------------------------------------------------------------ */

static void study_sampling(const char *dir)
{
    header("Sampling phase: case rate vs recall (query 1 fps)");
    vid_t *all[NVIDS];
    for (size_t i = 0; i < NVIDS; i++)
        all[i] = load_named(dir, VIDS[i]);
    /* How fast the content moves: distance between frames k apart. */
    printf("Median / 90th-percentile distance between frames k apart (all 14 videos, quality >= "
           "50)\n\n"
           "| k (frames at 30 fps) | median | p90 | share <= 31 |\n|---|---|---|---|\n");
    static const int LAG[] = {1, 2, 4, 8, 15, 30};
    static int dist[MAXF * 4];
    for (size_t li = 0; li < sizeof LAG / sizeof LAG[0]; li++) {
        size_t nd = 0, ok = 0;
        for (size_t vi = 0; vi < NVIDS; vi++) {
            const vid_t *v = all[vi];
            for (size_t i = 0; i + (size_t)LAG[li] < v->n && nd < MAXF * 4; i++) {
                if (v->q[i] < 50 || v->q[i + (size_t)LAG[li]] < 50)
                    continue;
                int d = sitr_pdq_distance(&v->h[i * SITR_VMATCH_VARIANTS],
                                          &v->h[(i + (size_t)LAG[li]) * SITR_VMATCH_VARIANTS]);
                dist[nd++] = d;
                ok += d <= 31;
            }
        }
        size_t hist[257] = {0};
        for (size_t i = 0; i < nd; i++)
            hist[dist[i]]++;
        int med = -1, p90 = -1;
        size_t acc = 0;
        for (int d = 0; d <= 256; d++) {
            acc += hist[d];
            if (med < 0 && acc * 2 >= nd)
                med = d;
            if (p90 < 0 && acc * 10 >= nd * 9)
                p90 = d;
        }
        printf("| %d (%.3f s) | %d | %d | %.1f %% |\n", LAG[li], LAG[li] / 30.0, med, p90,
               pc(ok, nd));
    }
    printf("\n");
    static const double JIT[] = {0.5, 1.0};
    for (size_t ji = 0; ji < 2; ji++) {
        printf("jitter %.2f s, max_gap 3 s, S 5 s, slopes 0.75-1.33, orig only\n\n", JIT[ji]);
        printf("| case rate | whole video, all 30 phases: pytx copy | copy (ours) | excerpt | "
               "excerpt 6 s | excerpt 10 s | excerpt 20 s | 6 s: pytx copy "
               "|\n|---|---|---|---|---|---|---|---|\n");
        for (size_t ri = 0; ri < 5; ri++) {
            int step = RATES_STEP[ri];
            cfg_t c;
            cfg_default(&c, step);
            c.p.jitter = JIT[ji];
            stats_t whole = {0}, ex[3] = {{0}};
            for (size_t vi = 0; vi < NVIDS; vi++) {
                vid_t *v = all[vi];
                vid_t *cs = vid_select(v, 0, v->n, (size_t)step, 0);
                for (size_t ph = 0; ph < 30; ph++) {
                    vid_t *qv = vid_select(v, ph, v->n, 30, 0);
                    sitr_vmatch_result_t r = run_pair(qv, cs, &c);
                    tally(&whole, &r);
                    vid_free(qv);
                }
                static const double LEN[] = {6, 10, 20};
                for (int li = 0; li < 3; li++) {
                    size_t len = (size_t)(LEN[li] * 30);
                    if (len >= v->n)
                        continue;
                    rs = 12345 + vi * 7 + (uint64_t)li;
                    for (int k = 0; k < 20; k++) {
                        size_t from = rnd((unsigned)(v->n - len));
                        vid_t *qv = vid_select(v, from, from + len, 30, 0);
                        sitr_vmatch_result_t r = run_pair(qv, cs, &c);
                        tally(&ex[li], &r);
                        vid_free(qv);
                    }
                }
                vid_free(cs);
            }
            printf("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% (%zu) | %.1f %% (%zu) | %.1f %% "
                   "(%zu) | %.1f %% |\n",
                   RATES_NAME[ri], pc(whole.pytx, whole.pairs), pc(whole.copy, whole.pairs),
                   pc(whole.excerpt, whole.pairs), pc(ex[0].excerpt, ex[0].pairs), ex[0].pairs,
                   pc(ex[1].excerpt, ex[1].pairs), ex[1].pairs, pc(ex[2].excerpt, ex[2].pairs),
                   ex[2].pairs, pc(ex[0].pytx, ex[0].pairs));
        }
        printf("\n");
    }

    /* The chair cuts: differently cut and coloured copies of one clip. */
    printf(
        "Chair cuts (query: whole video at 1 fps, phase 0; case: the other cut), jitter 1 s\n\n");
    printf("| case rate | pairs | pytx copy | copy | excerpt | median run s | still "
           "|\n|---|---|---|---|---|---|---|\n");
    for (size_t ri = 0; ri < 5; ri++) {
        int step = RATES_STEP[ri];
        cfg_t c;
        cfg_default(&c, step);
        stats_t s = {0};
        double runs[64];
        size_t nr = 0;
        for (size_t a = 0; a < 7; a++) {
            for (size_t b = 0; b < 7; b++) {
                if (a == b)
                    continue;
                vid_t *qv = vid_select(all[a], 0, all[a]->n, 30, 0);
                vid_t *cs = vid_select(all[b], 0, all[b]->n, (size_t)step, 0);
                sitr_vmatch_result_t r = run_pair(qv, cs, &c);
                tally(&s, &r);
                runs[nr++] = r.run_seconds;
                vid_free(qv);
                vid_free(cs);
            }
        }
        for (size_t i = 1; i < nr; i++)
            for (size_t j = i; j > 0 && runs[j - 1] > runs[j]; j--) {
                double t = runs[j];
                runs[j] = runs[j - 1];
                runs[j - 1] = t;
            }
        printf("| %s | %zu | %zu | %zu | %zu | %.1f | %zu |\n", RATES_NAME[ri], s.pairs, s.pytx,
               s.copy, s.excerpt, runs[nr / 2], s.still);
    }
    printf("\n");
    for (size_t i = 0; i < NVIDS; i++)
        vid_free(all[i]);
}

/* ---- Meta's samples: all ordered pairs ------------------------------------------ */

static int source_of(const char *name)
{
    if (!strncmp(name, "chair", 5))
        return 0;
    if (!strncmp(name, "pattern", 7))
        return 1;
    if (!strncmp(name, "doorknob", 8))
        return 2;
    return 3;
}

static void study_samples(const char *dir)
{
    header("Meta's sample videos: every ordered pair (query 1 fps phase 0, case 4 fps)");
    vid_t *all[NVIDS];
    for (size_t i = 0; i < NVIDS; i++)
        all[i] = load_named(dir, VIDS[i]);
    cfg_t c;
    cfg_default(&c, 7);
    stats_t same = {0}, cross = {0};
    printf("| query | case | pytx q%% | copy | excerpt (run s) | still (d) "
           "|\n|---|---|---|---|---|---|\n");
    for (size_t a = 0; a < NVIDS; a++) {
        for (size_t b = 0; b < NVIDS; b++) {
            if (a == b)
                continue;
            vid_t *qv = vid_select(all[a], 0, all[a]->n, 30, 0);
            vid_t *cs = vid_select(all[b], 0, all[b]->n, 7, 0);
            sitr_vmatch_result_t r = run_pair(qv, cs, &c);
            int rel = source_of(VIDS[a]) == source_of(VIDS[b]);
            tally(rel ? &same : &cross, &r);
            if (getenv("STUDY_VERBOSE") || (!rel && (r.copy || r.excerpt || r.still)))
                printf("| %s | %s | %.1f | %d | %d (%.1f) | %d (%d) |\n", VIDS[a], VIDS[b],
                       r.pytx_query, r.copy, r.excerpt, r.run_seconds, r.still, r.still_distance);
            vid_free(qv);
            vid_free(cs);
        }
    }
    printf("\nsame source: %zu pairs, copy %zu, excerpt %zu, still %zu\n", same.pairs, same.copy,
           same.excerpt, same.still);
    printf("different source: %zu pairs, copy %zu, excerpt %zu, still %zu (rows above)\n\n",
           cross.pairs, cross.copy, cross.excerpt, cross.still);
    for (size_t i = 0; i < NVIDS; i++)
        vid_free(all[i]);
}

/* ---- videos made with ffmpeg, hashed with libsitrvideo ------------------------- */

static char tmpdir[512];

static void sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "failed (%d): %s\n", rc, cmd);
        exit(2);
    }
}

static vid_t *hash_video(const char *path, double sph, unsigned flags)
{
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    o.seconds_per_hash = sph;
    o.flags = flags;
    o.threads = 2;
    sitr_video_t *v = NULL;
    sitr_err_t err;
    memset(&err, 0, sizeof err);
    if (sitr_video_hash_file(path, &o, &v, &err) != 0) {
        fprintf(stderr, "%s: cannot hash\n", path);
        exit(2);
    }
    vid_t *o2 = vid_new(v->count);
    for (size_t i = 0; i < v->count; i++) {
        const sitr_video_frame_t *f = &v->frames[i];
        o2->t[i] = f->timestamp;
        o2->q[i] = f->pdq.quality;
        o2->h[i * SITR_VMATCH_VARIANTS] = f->pdq.hash;
        o2->has[i] = 1u;
        if (flags & SITR_PDQ_WANT_DIHEDRAL) {
            for (int d = 0; d < SITR_PDQ_DIHEDRAL_COUNT; d++)
                o2->h[i * SITR_VMATCH_VARIANTS + d] = f->pdq.dihedral[d];
            o2->has[i] = 0xffu;
        }
        if (f->has_trimmed) {
            o2->h[i * SITR_VMATCH_VARIANTS + SITR_VMATCH_TRIMMED] = f->trimmed;
            o2->tq[i] = f->trimmed_quality;
            o2->has[i] |= 1u << SITR_VMATCH_TRIMMED;
        }
    }
    o2->duration = v->duration;
    o2->fps = v->fps;
    sitr_video_free(v);
    return o2;
}

typedef struct xform {
    const char *name;
    const char *vf; /* ffmpeg filter graph, %s = none */
} xform_t;

static const xform_t XF[] = {
    {"re-encode (crf 30)", "null"},
    {"mirrored (hflip)", "hflip"},
    {"rotated 90", "transpose=1"},
    {"black bars to 9:16", "pad=w='max(iw,ceil(ih*9/16/2)*2)':h='max(ih,ceil(iw*16/9/"
                           "2)*2)':x=(ow-iw)/2:y=(oh-ih)/2:color=black"},
    {"black bars to 16:9", "pad=w='max(iw,ceil(ih*16/9/2)*2)':h='max(ih,ceil(iw*9/16/"
                           "2)*2)':x=(ow-iw)/2:y=(oh-ih)/2:color=black"},
    {"blurred bars to 16:9",
     "split[a][b];[a]scale=w='ceil(max(iw,ih*16/9)/2)*2':h='ceil(max(ih,iw*9/16)/"
     "2)*2',boxblur=20:5[bg];[bg][b]overlay=x=(W-w)/2:y=(H-h)/2"},
    {"text watermark",
     "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/"
     "DejaVuSans-Bold.ttf:text='@leaked_clips':fontcolor=white@0.8:fontsize=h/12:x=w/20:y=h-2*th"},
    {"mirrored + black bars 16:9", "hflip,pad=w='max(iw,ceil(ih*16/9/2)*2)':h='max(ih,ceil(iw*9/16/"
                                   "2)*2)':x=(ow-iw)/2:y=(oh-ih)/2:color=black"},
};
#define NXF (sizeof XF / sizeof XF[0])

static void study_transforms(const char *viddir)
{
    header("Transformed copies (case 5 fps stored with dihedral + trimmed; query 1 fps)");
    static const char *SRC[] = {"chair-20-sd-bar", "pattern-hd-no-bar", "doorknob-hd-no-bar",
                                "test-padded-dimensions", "chair-orig-22-sd-bar"};
    typedef struct setting {
        const char *name;
        unsigned store;
        unsigned families;
        int qtrim;
    } setting_t;
    static const setting_t SET[] = {
        {"orig", 1u, 1u, 0},
        {"orig+FLIPY", 1u | 1u << SITR_PDQ_FLIPY, 1u | 1u << SITR_PDQ_FLIPY, 0},
        {"all 8", 0xffu, 0xffu, 0},
        {"orig+trimmed (case only)", 1u | 1u << SITR_VMATCH_TRIMMED, 1u, 0},
        {"orig+trimmed both sides", 1u | 1u << SITR_VMATCH_TRIMMED, 1u, 1},
        {"orig+FLIPY+trimmed both", 1u | 1u << SITR_PDQ_FLIPY | 1u << SITR_VMATCH_TRIMMED,
         1u | 1u << SITR_PDQ_FLIPY, 1},
    };
    printf("Each cell: copy (best family query share %%) / excerpt run s, over %zu source videos "
           "(min-max of share, mean run)\n\n",
           sizeof SRC / sizeof SRC[0]);
    printf("| copy | ");
    for (size_t s = 0; s < sizeof SET / sizeof SET[0]; s++)
        printf("%s | ", SET[s].name);
    printf("\n|---|");
    for (size_t s = 0; s < sizeof SET / sizeof SET[0]; s++)
        printf("---|");
    printf("\n");
    static char cmd[4096], in[1024], out[1024];
    vid_t *cases[8];
    size_t ns = sizeof SRC / sizeof SRC[0];
    for (size_t i = 0; i < ns; i++) {
        xfmt(in, sizeof in, "%s/%s.mp4", viddir, SRC[i]);
        cases[i] = hash_video(in, 0.2, SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED);
    }
    for (size_t x = 0; x < NXF; x++) {
        vid_t *qs[8];
        for (size_t i = 0; i < ns; i++) {
            xfmt(in, sizeof in, "%s/%s.mp4", viddir, SRC[i]);
            xfmt(out, sizeof out, "%s/x.mp4", tmpdir);
            xfmt(cmd, sizeof cmd,
                 "ffmpeg -nostdin -loglevel error -y -i '%s' -vf \"%s\" -an -c:v libx264 -crf 30 "
                 "-pix_fmt yuv420p '%s'",
                 in, XF[x].vf, out);
            sh(cmd);
            qs[i] = hash_video(out, 1, SITR_VIDEO_WANT_TRIMMED);
            unlink(out);
        }
        printf("| %s | ", XF[x].name);
        for (size_t s = 0; s < sizeof SET / sizeof SET[0]; s++) {
            cfg_t c;
            cfg_default(&c, 6);
            c.store = SET[s].store;
            c.p.families = SET[s].families;
            c.qtrim = SET[s].qtrim;
            size_t copies = 0, ex = 0;
            double lo = 101, hi = -1, run = 0;
            for (size_t i = 0; i < ns; i++) {
                sitr_vmatch_result_t r = run_pair(qs[i], cases[i], &c);
                copies += (size_t)r.copy;
                ex += (size_t)r.excerpt;
                lo = r.copy_query < lo ? r.copy_query : lo;
                hi = r.copy_query > hi ? r.copy_query : hi;
                run += r.run_seconds;
            }
            printf("%zu/%zu (%.0f-%.0f %%) / %zu/%zu (%.1f s) | ", copies, ns, lo, hi, ex, ns,
                   run / (double)ns);
        }
        printf("\n");
        for (size_t i = 0; i < ns; i++)
            vid_free(qs[i]);
    }
    /* Which stored variant a mirrored copy's frames reach. */
    printf(
        "\nMirrored copy (hflip): share of query frames within 31 of some case frame, per stored "
        "dihedral variant (%s)\n\n| variant | share |\n|---|---|\n",
        SRC[0]);
    xfmt(in, sizeof in, "%s/%s.mp4", viddir, SRC[0]);
    xfmt(out, sizeof out, "%s/x.mp4", tmpdir);
    xfmt(cmd, sizeof cmd,
         "ffmpeg -nostdin -loglevel error -y -i '%s' -vf hflip -an -c:v libx264 -crf 30 "
         "-pix_fmt yuv420p '%s'",
         in, out);
    sh(cmd);
    vid_t *mq = hash_video(out, 1, 0);
    unlink(out);
    static const char *DN[] = {"ORIG",  "ROT90", "ROT180",    "ROT270",
                               "FLIPX", "FLIPY", "FLIPPLUS1", "FLIPMINUS1"};
    for (int d = 0; d < 8; d++) {
        cfg_t c;
        cfg_default(&c, 6);
        c.store = 1u << d;
        c.p.families = 1u << d;
        sitr_vmatch_result_t r = run_pair(mq, cases[0], &c);
        printf("| %s | %.1f %% |\n", DN[d], r.copy_query);
    }
    printf("\n");
    vid_free(mq);
    for (size_t i = 0; i < ns; i++)
        vid_free(cases[i]);
}

/* ---- unrelated clips -------------------------------------------------------------- */

static const char *STILLS[] = {"bridge-mods/aaa-orig.jpg",
                               "misc-images/c.png",

                               "misc-images/small.jpg",
                               "reg-test-input/exif-rotn/exif-rotn-1.jpg",
                               "reg-test-input/labelme-subset/q0003.jpg",
                               "reg-test-input/labelme-subset/q0004.jpg",
                               "reg-test-input/labelme-subset/q0122.jpg",
                               "reg-test-input/labelme-subset/q0291.jpg",
                               "reg-test-input/labelme-subset/q0746.jpg",
                               "reg-test-input/labelme-subset/q1050.jpg",
                               "reg-test-input/labelme-subset/q2821.jpg",
                               "reg-test-input/pen-and-coaster.png"};
#define NSTILLS (sizeof STILLS / sizeof STILLS[0])

/* Animations of one still: 12 s at 30 fps, 480x360. */
static const char *ANIM[] = {
    "zoompan=z='1+0.4*in/360':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=480x360:fps=30",
    "zoompan=z='1.3':x='(iw-iw/zoom)*in/360':y='(ih-ih/zoom)/2':d=1:s=480x360:fps=30",
    /* one string split over two lines (parenthesised so that clang does
     * not take it for a missing comma between two elements) */
    ("zoompan=z='1.2+0.1*sin(in/40)':x='(iw-iw/zoom)*(0.5+0.4*sin(in/60))':y='(ih-ih/"
     "zoom)*(0.5+0.4*cos(in/50))':d=1:s=480x360:fps=30"),
};
#define NANIM (sizeof ANIM / sizeof ANIM[0])

static void study_corpus(const char *pdqdir)
{
    header("Unrelated clips: false matches (case 5 fps, query 1 fps)");
    size_t nc = NSTILLS * NANIM;
    vid_t **cs = xcalloc(nc, sizeof *cs), **qs = xcalloc(nc, sizeof *qs);
    vid_t **ev = xcalloc(nc, sizeof *ev);
    static char cmd[4096], in[1024], out[1024];
    for (size_t s = 0; s < NSTILLS; s++) {
        for (size_t a = 0; a < NANIM; a++) {
            xfmt(in, sizeof in, "%s/%s", pdqdir, STILLS[s]);
            xfmt(out, sizeof out, "%s/c.mp4", tmpdir);
            xfmt(cmd, sizeof cmd,
                 "ffmpeg -nostdin -loglevel error -y -loop 1 -i '%s' -vf "
                 "\"scale=960:720:force_original_aspect_ratio=increase,crop=960:720,%s,format="
                 "yuv420p\" "
                 "-frames:v 360 -c:v libx264 -crf 26 '%s'",
                 in, ANIM[a], out);
            sh(cmd);
            vid_t *every = hash_video(out, 0, SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED);
            ev[s * NANIM + a] = every;
            cs[s * NANIM + a] = vid_select(every, 0, every->n, 6, 0);
            qs[s * NANIM + a] = vid_select(every, 0, every->n, 30, 0);
            unlink(out);
        }
    }
    /* Sampling on slowly moving content: 6-s and 10-s excerpts cut at a
     * random frame, query 1 fps, case at each rate. */
    printf(
        "Excerpts of the animated clips (cut at a random frame, query 1 fps), orig only, J 1 G 3 "
        "S 5\n\n| case rate | 6 s: excerpt | 6 s: pytx copy | 10 s: excerpt | whole clip, 30 "
        "phases: pytx copy |\n|---|---|---|---|---|\n");
    for (size_t ri = 0; ri < 5; ri++) {
        int step = RATES_STEP[ri];
        cfg_t c;
        cfg_default(&c, step);
        stats_t e6 = {0}, e10 = {0}, wh = {0};
        rs = 777;
        for (size_t i = 0; i < nc; i++) {
            vid_t *v = ev[i];
            vid_t *cv = vid_select(v, 0, v->n, (size_t)step, 0);
            for (int k = 0; k < 4; k++) {
                size_t from = rnd((unsigned)(v->n - 300));
                vid_t *q6 = vid_select(v, from, from + 180, 30, 0);
                vid_t *q10 = vid_select(v, from, from + 300, 30, 0);
                sitr_vmatch_result_t r = run_pair(q6, cv, &c);
                tally(&e6, &r);
                r = run_pair(q10, cv, &c);
                tally(&e10, &r);
                vid_free(q6);
                vid_free(q10);
            }
            for (size_t ph = 0; ph < 30; ph += 3) {
                vid_t *qv = vid_select(v, ph, v->n, 30, 0);
                sitr_vmatch_result_t r = run_pair(qv, cv, &c);
                tally(&wh, &r);
                vid_free(qv);
            }
            vid_free(cv);
        }
        printf("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n", RATES_NAME[ri],
               pc(e6.excerpt, e6.pairs), pc(e6.pytx, e6.pairs), pc(e10.excerpt, e10.pairs),
               pc(wh.pytx, wh.pairs));
    }
    printf("\n");
    typedef struct setting {
        const char *name;
        unsigned store, families;
        int qtrim;
        double jitter, gap, S;
    } setting_t;
    static const setting_t SET[] = {
        {"orig, J1 G3 S5", 1u, 1u, 0, 1.0, 3.0, 5},
        {"orig+FLIPY, J1 G3 S5", 1u | 1u << 5, 1u | 1u << 5, 0, 1.0, 3.0, 5},
        {"orig+FLIPY+trimmed both, J1 G3 S5", 1u | 1u << 5 | 1u << 8, 1u | 1u << 5, 1, 1.0, 3.0, 5},
        {"all 8 + trimmed both, J1 G3 S5", 0x1ffu, 0xffu, 1, 1.0, 3.0, 5},
        {"all 8 + trimmed both, J2 G5 S3", 0x1ffu, 0xffu, 1, 2.0, 5.0, 3},
    };
    printf("%zu clips (%zu stills x %zu animations); pairs of clips from different stills; "
           "same-still pairs (other animation) for recall\n\n",
           nc, NSTILLS, NANIM);
    printf("| setting | unrelated pairs | copy | excerpt | still (video-video) | still "
           "(image-video) | "
           "same-still pairs: copy / excerpt / still |\n|---|---|---|---|---|---|---|\n");
    for (size_t si = 0; si < sizeof SET / sizeof SET[0]; si++) {
        cfg_t c;
        cfg_default(&c, 6);
        c.store = SET[si].store;
        c.p.families = SET[si].families;
        c.qtrim = SET[si].qtrim;
        c.p.jitter = SET[si].jitter;
        c.p.max_gap = SET[si].gap;
        c.p.excerpt_seconds = SET[si].S;
        stats_t un = {0}, same = {0};
        size_t img_pairs = 0, img_fp = 0;
        for (size_t a = 0; a < nc; a++) {
            for (size_t b = 0; b < nc; b++) {
                if (a == b)
                    continue;
                sitr_vmatch_result_t r = run_pair(qs[a], cs[b], &c);
                int rel = a / NANIM == b / NANIM;
                tally(rel ? &same : &un, &r);
                if (!rel) {
                    /* Image queries: each query frame alone. */
                    for (size_t f = 0; f < qs[a]->n; f++) {
                        vid_t *one = vid_select(qs[a], f, f + 1, 1, 0);
                        sitr_vmatch_result_t r1 = run_pair(one, cs[b], &c);
                        img_pairs++;
                        img_fp += (size_t)r1.still;
                        vid_free(one);
                    }
                }
            }
        }
        printf("| %s | %zu | %zu | %zu | %zu | %zu of %zu | %zu / %zu / %zu of %zu |\n",
               SET[si].name, un.pairs, un.copy, un.excerpt, un.still, img_fp, img_pairs, same.copy,
               same.excerpt, same.still, same.pairs);
    }
    printf("\n");
    for (size_t i = 0; i < nc; i++) {
        vid_free(cs[i]);
        vid_free(qs[i]);
        vid_free(ev[i]);
    }
    free(cs);
    free(qs);
    free(ev);
}

int main(int argc, char **argv)
{
    const char *shared = getenv("SITR_SHARED_DIR") ? getenv("SITR_SHARED_DIR") : SITR_SHARED_DIR;
    const char *t = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    xfmt(tmpdir, sizeof tmpdir, "%s/study-vmatch.%ld", t, (long)getpid());
    char ref[1024], vids[1024], pdq[1024];
    xfmt(ref, sizeof ref, "%s/testdata/vpdq/ref-debian12", shared);
    xfmt(vids, sizeof vids, "%s/testdata/vpdq/videos", shared);
    xfmt(pdq, sizeof pdq, "%s/testdata/pdq", shared);
    if (argc < 2) {
        fprintf(stderr, "usage: study-vmatch sampling|samples|transforms|corpus|all\n");
        return 2;
    }
    const char *m = argv[1];
    int all = !strcmp(m, "all");
    if (all || !strcmp(m, "sampling"))
        study_sampling(ref);
    if (all || !strcmp(m, "samples"))
        study_samples(ref);
    if (all || !strcmp(m, "transforms") || !strcmp(m, "corpus")) {
        if (mkdir(tmpdir, 0700) != 0) {
            fprintf(stderr, "%s: %s\n", tmpdir, strerror(errno));
            return 2;
        }
        if (all || !strcmp(m, "transforms"))
            study_transforms(vids);
        if (all || !strcmp(m, "corpus"))
            study_corpus(pdq);
        rmdir(tmpdir);
    }
    fflush(stdout);
    return 0;
}
