/* msearch: images and videos searched in one index, against brute force.
 *
 * Random case images (with variants), case videos (clustered frame
 * sequences at 5 fps packed under the storage policy: FLIPY and trimmed
 * hashes, repeated frames, dropped low-quality frames), image uploads and
 * video uploads are put into real indexes, digest tables and catalogues,
 * ids as vid.h says.  Queries near them and far from them (image items,
 * excerpts of case videos with noise, mirrored and letterboxed copies,
 * videos containing a case image, duplicate frames) are answered by
 * sitr_msearch_item / _batch / _case_image / _case_video and by a
 * brute-force reference written here from the contract: every query frame
 * against every stored hash of every target, the distinct-hash numbering
 * and period recomputed, the same vmatch decisions, the same ranking.
 * Every answer must be equal, field by field. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "match/digest_index.h"
#include "match/index.h"
#include "match/msearch.h"
#include "match/vcat.h"
#include "match/vframes.h"
#include "match/vid.h"
#include "match/vpack.h"

#define RADIUS 31
#define NI     150     /* case images */
#define NV     24      /* case videos */
#define NUI    120     /* image uploads */
#define NUV    30      /* video uploads */
#define MAXF   90      /* frames per video at most */
#define MAXE   4000000 /* entries */

static uint64_t rng_state = 0xfeedface12345678ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static void random_pdq(sitr_pdq_t *h)
{
    for (int i = 0; i < 32; i++)
        h->b[i] = (uint8_t)rnd();
}

static sitr_pdq_t near(const sitr_pdq_t *h, int bits)
{
    sitr_pdq_t o = *h;
    for (int i = 0; i < bits; i++) {
        unsigned b = below(256);
        o.b[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
    return o;
}

/* ---- the world -------------------------------------------------------------- */

typedef struct image {
    int64_t id;
    int nvar; /* 1..8: variants 0..nvar-1 */
    sitr_pdq_t var[8];
    uint8_t md5[16], sha[32];
} image_t;

typedef struct video {
    int64_t id;
    size_t n; /* stored frames */
    float t[MAXF];
    sitr_pdq_t pdq[MAXF];
    unsigned mask[MAXF];
    sitr_pdq_t vars[MAXF][8]; /* in mask bit order */
    double duration;          /* stored; < 0 unknown */
    uint8_t md5[16], sha[32];
    sitr_vframe_in_t in[MAXF]; /* what was packed (before the policy) */
    size_t nin;
} video_t;

static image_t images[NI];
static video_t videos[NV], uvideos[NUV];
static image_t uimages[NUI]; /* nvar 1 */
static sitr_replica_indexes_t ix;
static sitr_msearch_t *S;

static void fill_digests(uint8_t *md5, uint8_t *sha)
{
    for (int i = 0; i < 16; i++)
        md5[i] = (uint8_t)rnd();
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)rnd();
}

/* A clustered sequence of n frames at `period` seconds, starting near
 * `start`; some repeat the previous frame exactly, some are poor. */
static void make_frames(sitr_vframe_in_t *f, size_t n, const sitr_pdq_t *start, double period,
                        int case_side)
{
    sitr_pdq_t cur = *start;
    for (size_t i = 0; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        if (i > 0 && below(6) != 0)
            cur = below(5) == 0 ? cur : near(&cur, 6 + (int)below(14));
        f[i].n = (uint32_t)i * 6;
        f[i].t = (double)i * period;
        f[i].pdq = cur;
        f[i].quality = below(12) == 0 ? 30 : 50 + (int)below(51);
        if (case_side) {
            f[i].has_dihedral = 1;
            f[i].dihedral[0] = cur;
            for (int v = 1; v < 8; v++)
                random_pdq(&f[i].dihedral[v]);
            if (below(4) == 0) {
                f[i].has_trimmed = 1;
                random_pdq(&f[i].trimmed);
                f[i].trimmed_quality = below(5) == 0 ? 40 : 80;
            }
        }
    }
}

/* Packs v->in under the policy and loads it into the catalogue, the index
 * and the digest tables; records what was stored. */
static void store_video(video_t *v, sitr_vpack_role_t role, sitr_index_entry_t *e, size_t *ne)
{
    uint8_t *buf;
    size_t len, kept;
    assert_int_equal(
        sitr_vpack(v->in, v->nin, role, SITR_VPACK_VARIANTS_DEFAULT, &buf, &len, &kept, NULL), 0);
    assert_true(kept > 0);
    size_t pos = 0;
    sitr_vframe_t f;
    v->n = 0;
    while (sitr_vframes_next(buf, len, &pos, &f) == 1) {
        size_t s = v->n++;
        v->t[s] = f.t;
        v->pdq[s] = f.pdq;
        v->mask[s] = f.mask;
        int nv = __builtin_popcount(f.mask);
        for (int k = 0; k < nv; k++)
            v->vars[s][k] = f.variants[k];
        e[(*ne)++] = (sitr_index_entry_t){f.pdq, sitr_vid_frame(v->id, (uint32_t)s, 0)};
        int k = 0;
        for (unsigned b = 0; b < 8; b++)
            if (f.mask >> b & 1u)
                e[(*ne)++] = (sitr_index_entry_t){
                    f.variants[k++],
                    sitr_vid_frame(v->id, (uint32_t)s, (unsigned)sitr_vframes_bit_kind(b))};
    }
    sitr_vcat_t *cat = role == SITR_VPACK_CASE ? ix.case_videos : ix.upload_videos;
    assert_int_equal(sitr_vcat_put(cat, v->id, buf, len, v->duration), 0);
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    ix.case_pdq = sitr_index_new();
    ix.upload_pdq = sitr_index_new();
    ix.case_md5 = sitr_digest_index_new(16);
    ix.case_sha256 = sitr_digest_index_new(32);
    ix.upload_md5 = sitr_digest_index_new(16);
    ix.upload_sha256 = sitr_digest_index_new(32);
    ix.case_videos = sitr_vcat_new(0);
    ix.upload_videos = sitr_vcat_new(1);
    sitr_index_entry_t *e = malloc(MAXE * sizeof *e);
    size_t ne = 0;
    for (int i = 0; i < NI; i++) {
        image_t *im = &images[i];
        im->id = 1 + i * 3;
        im->nvar = below(3) == 0 ? 8 : 1;
        for (int v = 0; v < im->nvar; v++)
            random_pdq(&im->var[v]);
        fill_digests(im->md5, im->sha);
        for (int v = 0; v < im->nvar; v++)
            e[ne++] = (sitr_index_entry_t){im->var[v], (uint64_t)im->id << 3 | (uint64_t)v};
        assert_true(sitr_digest_index_insert(ix.case_md5, im->md5, (uint64_t)im->id) >= 0);
        assert_true(sitr_digest_index_insert(ix.case_sha256, im->sha, (uint64_t)im->id) >= 0);
    }
    for (int i = 0; i < NV; i++) {
        video_t *v = &videos[i];
        /* Ids far apart, one near the top of the id space; some equal to
         * image ids (another namespace). */
        v->id = i == 0 ? SITR_VID_MAX_VIDEO - 5 : i < 4 ? images[i].id : 1000 + i * 7;
        v->nin = 20 + below(MAXF - 20);
        sitr_pdq_t start;
        random_pdq(&start);
        make_frames(v->in, v->nin, &start, 0.2, 1);
        v->duration = below(3) == 0 ? -1 : v->nin * 0.2 + below(3);
        fill_digests(v->md5, v->sha);
        store_video(v, SITR_VPACK_CASE, e, &ne);
        assert_true(sitr_digest_index_insert(ix.case_md5, v->md5, sitr_vid_digest(v->id)) >= 0);
        assert_true(sitr_digest_index_insert(ix.case_sha256, v->sha, sitr_vid_digest(v->id)) >= 0);
    }
    assert_int_equal(sitr_index_bulk_build(ix.case_pdq, e, ne, 1), 0);
    /* Uploads: images near case images or frames, video excerpts. */
    ne = 0;
    for (int i = 0; i < NUI; i++) {
        image_t *u = &uimages[i];
        u->id = 5000 + i;
        u->nvar = 1;
        unsigned how = below(3);
        if (how == 0) {
            const image_t *im = &images[below(NI)];
            u->var[0] = near(&im->var[below((unsigned)im->nvar)], (int)below(40));
        } else if (how == 1) {
            const video_t *v = &videos[below(NV)];
            u->var[0] = near(&v->pdq[below((unsigned)v->n)], (int)below(40));
        } else {
            random_pdq(&u->var[0]);
        }
        e[ne++] = (sitr_index_entry_t){u->var[0], (uint64_t)u->id};
    }
    for (int i = 0; i < NUV; i++) {
        video_t *u = &uvideos[i];
        u->id = i < 3 ? uimages[i].id : 9000 + i; /* namespaces again */
        u->duration = -1;
        const video_t *v = &videos[below(NV)];
        size_t from = below((unsigned)v->nin / 2);
        u->nin = 0;
        for (size_t k = from; k < v->nin && u->nin < MAXF; k += 5) {
            sitr_vframe_in_t *f = &u->in[u->nin];
            memset(f, 0, sizeof *f);
            f->n = (uint32_t)u->nin;
            f->t = (double)u->nin;
            f->quality = v->in[k].quality;
            unsigned how = below(8);
            f->pdq = how == 0   ? v->in[k].dihedral[SITR_PDQ_FLIPY]
                     : how == 1 ? images[below(NI)].var[0]
                                : near(&v->in[k].pdq, (int)below(20));
            u->nin++;
        }
        if (i % 5 == 4) { /* an unrelated video */
            sitr_pdq_t st;
            random_pdq(&st);
            make_frames(u->in, u->nin, &st, 1.0, 0);
        }
        u->in[0].quality = 90;
        store_video(u, SITR_VPACK_UPLOAD, e, &ne);
    }
    assert_int_equal(sitr_index_bulk_build(ix.upload_pdq, e, ne, 1), 0);
    free(e);
    S = sitr_msearch_new(&ix, RADIUS, NULL);
    assert_non_null(S);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sitr_msearch_free(S);
    sitr_index_free(ix.case_pdq);
    sitr_index_free(ix.upload_pdq);
    sitr_digest_index_free(ix.case_md5);
    sitr_digest_index_free(ix.case_sha256);
    sitr_digest_index_free(ix.upload_md5);
    sitr_digest_index_free(ix.upload_sha256);
    sitr_vcat_free(ix.case_videos);
    sitr_vcat_free(ix.upload_videos);
    return 0;
}

/* ---- the brute-force reference ------------------------------------------------- */

typedef struct ref {
    sitr_msearch_match_t m[4 * (NI + NV + NUI + NUV)];
    size_t n;
} ref_t;

static void ref_push(ref_t *r, sitr_msearch_kind_t kind, int64_t id, sitr_msearch_signal_t sig,
                     int d, double cov, double run)
{
    r->m[r->n++] = (sitr_msearch_match_t){kind, id, sig, d, cov, run, -1};
}

static int cmp_target(const void *a, const void *b)
{
    const sitr_msearch_match_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->signal != y->signal)
        return x->signal < y->signal ? -1 : 1;
    return (x->distance > y->distance) - (x->distance < y->distance);
}

static int cmp_answer(const void *a, const void *b)
{
    const sitr_msearch_match_t *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    if (x->signal != y->signal)
        return x->signal < y->signal ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void ref_finish(ref_t *r)
{
    if (r->n == 0)
        return;
    qsort(r->m, r->n, sizeof r->m[0], cmp_target);
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        if (k == 0 || r->m[k - 1].kind != r->m[i].kind || r->m[k - 1].id != r->m[i].id)
            r->m[k++] = r->m[i];
    qsort(r->m, k, sizeof r->m[0], cmp_answer);
    r->n = k;
}

/* Distinct-hash number of slot s: how many distinct hashes sort below it. */
static uint32_t class_of(const video_t *v, size_t s)
{
    uint32_t c = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (memcmp(v->pdq[i].b, v->pdq[s].b, 32) >= 0)
            continue;
        size_t j = 0;
        while (j < i && memcmp(v->pdq[j].b, v->pdq[i].b, 32) != 0)
            j++;
        c += j == i; /* first of its hash */
    }
    return c;
}

static sitr_vmatch_case_t case_of(const video_t *v)
{
    double steps[MAXF];
    size_t ns = 0;
    for (size_t i = 1; i < v->n; i++)
        if (v->t[i] > v->t[i - 1])
            steps[ns++] = (double)v->t[i] - (double)v->t[i - 1];
    for (size_t i = 1; i < ns; i++) /* insertion sort */
        for (size_t j = i; j > 0 && steps[j] < steps[j - 1]; j--) {
            double x = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = x;
        }
    double period = ns ? steps[ns / 2] : 1.0;
    double dur = v->duration >= v->t[v->n - 1] ? v->duration : v->t[v->n - 1] + period;
    double span = (double)v->t[v->n - 1] - (double)v->t[0] + period;
    if (span < dur)
        dur = span; /* coverage counts what was stored */
    uint32_t distinct = 0;
    for (size_t i = 0; i < v->n; i++) {
        size_t j = 0;
        while (j < i && memcmp(v->pdq[j].b, v->pdq[i].b, 32) != 0)
            j++;
        distinct += j == i;
    }
    return (sitr_vmatch_case_t){distinct, dur, period};
}

/* The stored hashes of slot s of v: count, hashes and kinds. */
static int slot_hashes(const video_t *v, size_t s, sitr_pdq_t *h, unsigned *kind)
{
    int n = 0, k = 0;
    h[n] = v->pdq[s];
    kind[n++] = 0;
    for (unsigned b = 0; b < 8; b++)
        if (v->mask[s] >> b & 1u) {
            h[n] = v->vars[s][k++];
            kind[n++] = (unsigned)sitr_vframes_bit_kind(b);
        }
    return n;
}

/* The searcher's defaults: every orientation family counts. */
static sitr_vmatch_params_t params(void)
{
    sitr_vmatch_params_t p;
    sitr_vmatch_params_default(&p);
    p.max_distance = RADIUS;
    p.families = 0xffu;
    return p;
}

static void push_decision(ref_t *r, const sitr_vmatch_query_t *q, const sitr_vmatch_case_t *cv,
                          sitr_vmatch_hit_t *h, size_t nh, sitr_msearch_kind_t kind, int64_t id)
{
    sitr_vmatch_params_t p = params();
    size_t need = sitr_vmatch_scratch_size(q->n, cv->frames, nh);
    void *scratch = malloc(need + 8);
    sitr_vmatch_result_t res;
    assert_int_equal(sitr_vmatch_decide(q, cv, h, nh, &p, scratch, need + 8, &res), 0);
    free(scratch);
    if (!res.still)
        return;
    sitr_msearch_signal_t sig;
    if (res.copy &&
        (res.copy_compared >= p.copy_percent || res.run_case_share * 100.0 >= p.copy_percent))
        sig = SITR_SIGNAL_VPDQ_COPY; /* whole: Meta's share and the case covered */
    else if (res.excerpt)
        sig = SITR_SIGNAL_VPDQ_EXCERPT;
    else if (res.copy && q->n &&
             q->frames[q->n - 1].t - q->frames[0].t + q->period < p.excerpt_seconds &&
             res.copy_query * (double)q->usable / 100.0 >= 1.5)
        sig = SITR_SIGNAL_VPDQ_COPY; /* a short clip Meta's rule matches on two frames or more */
    else
        sig = SITR_SIGNAL_VIDEO_FRAME;
    double cov = fmax(res.copy_compared / 100.0, res.run_case_share);
    cov = cov < 0 ? 0 : cov > 1 ? 1 : cov;
    ref_push(r, kind, id, sig, res.still_distance, cov, res.run_seconds);
}

static void ref_digests(ref_t *r, const sitr_msearch_item_t *it)
{
    for (int i = 0; i < NI; i++) {
        if (it->has_sha256 && memcmp(it->sha256, images[i].sha, 32) == 0)
            ref_push(r, SITR_MSEARCH_IMAGE, images[i].id, SITR_SIGNAL_SHA256, 0, -1, -1);
        if (it->has_md5 && memcmp(it->md5, images[i].md5, 16) == 0)
            ref_push(r, SITR_MSEARCH_IMAGE, images[i].id, SITR_SIGNAL_MD5, 0, -1, -1);
    }
    for (int i = 0; i < NV; i++) {
        if (it->has_sha256 && memcmp(it->sha256, videos[i].sha, 32) == 0)
            ref_push(r, SITR_MSEARCH_VIDEO, videos[i].id, SITR_SIGNAL_SHA256, 0, -1, -1);
        if (it->has_md5 && memcmp(it->md5, videos[i].md5, 16) == 0)
            ref_push(r, SITR_MSEARCH_VIDEO, videos[i].id, SITR_SIGNAL_MD5, 0, -1, -1);
    }
}

static void ref_item(const sitr_msearch_item_t *it, ref_t *r)
{
    static sitr_vmatch_hit_t h[200000];
    sitr_vmatch_params_t p = params();
    r->n = 0;
    ref_digests(r, it);
    if (!it->frames) {
        if (!it->has_pdq || it->quality < 50) {
            ref_finish(r);
            return;
        }
        for (int i = 0; i < NI; i++) {
            int best = 999;
            for (int v = 0; v < images[i].nvar; v++) {
                int d = sitr_pdq_distance(&it->pdq, &images[i].var[v]);
                best = d < best ? d : best;
            }
            if (best <= RADIUS)
                ref_push(r, SITR_MSEARCH_IMAGE, images[i].id, SITR_SIGNAL_PDQ, best, -1, -1);
        }
        for (int i = 0; i < NV; i++) {
            size_t nh = 0;
            for (size_t s = 0; s < videos[i].n; s++) {
                sitr_pdq_t hs[9];
                unsigned kind[9];
                int n = slot_hashes(&videos[i], s, hs, kind);
                for (int k = 0; k < n; k++) {
                    int d = sitr_pdq_distance(&it->pdq, &hs[k]);
                    if (d <= RADIUS)
                        h[nh++] = (sitr_vmatch_hit_t){0, 0, 0, 0, (uint8_t)kind[k], 0, (uint16_t)d};
                }
            }
            int d = sitr_vmatch_still(h, nh, &p);
            if (d >= 0)
                ref_push(r, SITR_MSEARCH_VIDEO, videos[i].id, SITR_SIGNAL_VIDEO_FRAME, d, -1, -1);
        }
        ref_finish(r);
        return;
    }
    size_t n = it->nframes;
    sitr_vmatch_frame_t *qf = malloc((n + 1) * sizeof *qf);
    uint32_t *work = malloc((2 * n + 2) * sizeof *work);
    for (size_t i = 0; i < n; i++)
        qf[i] = (sitr_vmatch_frame_t){it->frames[i].t, it->frames[i].pdq, it->frames[i].quality};
    sitr_vmatch_query_t q;
    assert_int_equal(sitr_vmatch_query_prepare(&q, qf, n, work, &p), 0);
    for (int i = 0; i < NI; i++) {
        size_t nh = 0;
        for (size_t f = 0; f < n; f++) {
            const sitr_vframe_in_t *fr = &it->frames[f];
            if (fr->quality < 50)
                continue;
            for (int side = 0; side < 2; side++) {
                if (side && !(fr->has_trimmed && fr->trimmed_quality >= 50))
                    continue;
                for (int v = 0; v < images[i].nvar; v++) {
                    int d = sitr_pdq_distance(side ? &fr->trimmed : &fr->pdq, &images[i].var[v]);
                    if (d <= RADIUS)
                        h[nh++] = (sitr_vmatch_hit_t){(uint32_t)f,   0,          0, 0, (uint8_t)v,
                                                      (uint8_t)side, (uint16_t)d};
                }
            }
        }
        int d = sitr_vmatch_image_in_video(&q, h, nh, &p, NULL);
        if (d >= 0)
            ref_push(r, SITR_MSEARCH_IMAGE, images[i].id, SITR_SIGNAL_VIDEO_FRAME, d, -1, -1);
    }
    for (int i = 0; i < NV; i++) {
        const video_t *v = &videos[i];
        size_t nh = 0;
        for (size_t f = 0; f < n; f++) {
            const sitr_vframe_in_t *fr = &it->frames[f];
            if (fr->quality < 50)
                continue;
            for (int side = 0; side < 2; side++) {
                if (side && !(fr->has_trimmed && fr->trimmed_quality >= 50))
                    continue;
                for (size_t s = 0; s < v->n; s++) {
                    sitr_pdq_t hs[9];
                    unsigned kind[9];
                    int nk = slot_hashes(v, s, hs, kind);
                    for (int k = 0; k < nk; k++) {
                        int d = sitr_pdq_distance(side ? &fr->trimmed : &fr->pdq, &hs[k]);
                        if (d <= RADIUS)
                            h[nh++] = (sitr_vmatch_hit_t){
                                (uint32_t)f,      class_of(v, s), v->t[s],    v->t[s],
                                (uint8_t)kind[k], (uint8_t)side,  (uint16_t)d};
                    }
                }
            }
        }
        sitr_vmatch_case_t cv = case_of(v);
        push_decision(r, &q, &cv, h, nh, SITR_MSEARCH_VIDEO, v->id);
    }
    free(qf);
    free(work);
    ref_finish(r);
}

static void assert_same(const sitr_msearch_match_t *got, size_t ngot, const ref_t *want)
{
    assert_int_equal(ngot, want->n);
    for (size_t i = 0; i < ngot; i++) {
        assert_int_equal(got[i].kind, want->m[i].kind);
        assert_int_equal(got[i].id, want->m[i].id);
        assert_int_equal(got[i].signal, want->m[i].signal);
        assert_int_equal(got[i].distance, want->m[i].distance);
        assert_true(got[i].coverage == want->m[i].coverage);
        assert_true(got[i].run_seconds == want->m[i].run_seconds);
    }
}

/* ---- queries --------------------------------------------------------------------- */

#define NQ 160
static sitr_msearch_item_t items[NQ];
static sitr_vframe_in_t qframes[NQ][MAXF];
static size_t signals_seen[6];

static void make_image_item(sitr_msearch_item_t *it)
{
    memset(it, 0, sizeof *it);
    it->has_pdq = 1;
    it->quality = below(10) == 0 ? 40 : 90;
    unsigned how = below(5);
    if (how == 0) {
        const image_t *im = &images[below(NI)];
        it->pdq = near(&im->var[below((unsigned)im->nvar)], (int)below(40));
    } else if (how == 1) {
        const video_t *v = &videos[below(NV)];
        sitr_pdq_t hs[9];
        unsigned kind[9];
        size_t s = below((unsigned)v->n);
        int n = slot_hashes(v, s, hs, kind);
        it->pdq = near(&hs[below((unsigned)n)], (int)below(35));
    } else {
        random_pdq(&it->pdq);
    }
    if (below(6) == 0) {
        it->has_md5 = 1;
        memcpy(it->md5, below(2) ? images[below(NI)].md5 : videos[below(NV)].md5, 16);
    }
    if (below(6) == 0) {
        it->has_sha256 = 1;
        memcpy(it->sha256, below(2) ? images[below(NI)].sha : videos[below(NV)].sha, 32);
    }
    if (below(8) == 0)
        it->has_pdq = 0;
}

static void make_video_item(sitr_msearch_item_t *it, sitr_vframe_in_t *f)
{
    memset(it, 0, sizeof *it);
    const video_t *v = &videos[below(NV)];
    unsigned how = below(6); /* 0 plain excerpt, 1 mirrored, 2 letterboxed, 3 with an image,
                                4 unrelated, 5 whole copy */
    size_t from = how == 5 ? 0 : below((unsigned)v->nin);
    size_t step = below(3) == 0 ? 1 : 5;
    size_t n = 0;
    double t = below(4) * 0.5;
    for (size_t k = from; k < v->nin && n < MAXF; k += step) {
        sitr_vframe_in_t *x = &f[n];
        memset(x, 0, sizeof *x);
        x->n = (uint32_t)n;
        x->t = t;
        t += step * 0.2 * (below(8) == 0 ? 1.1 : 1.0);
        x->quality = v->in[k].quality;
        int noise = (int)below(24);
        if (how == 1)
            x->pdq = near(&v->in[k].dihedral[SITR_PDQ_FLIPY], noise);
        else if (how == 2) {
            random_pdq(&x->pdq);
            x->has_trimmed = 1;
            x->trimmed = near(&v->in[k].pdq, noise);
            x->trimmed_quality = below(6) == 0 ? 30 : 75;
        } else if (how == 3 && below(4) == 0)
            x->pdq = near(&images[below(NI)].var[0], noise);
        else if (how == 4)
            random_pdq(&x->pdq);
        else
            x->pdq = near(&v->in[k].pdq, noise);
        if (n > 0 && below(7) == 0) /* a repeated frame: same hash, later time */
            x->pdq = f[n - 1].pdq;
        n++;
    }
    it->frames = f;
    it->nframes = n;
    if (below(8) == 0) {
        it->has_md5 = 1;
        memcpy(it->md5, v->md5, 16);
    }
}

static void test_items_against_brute_force(void **state)
{
    (void)state;
    static ref_t r;
    static sitr_msearch_match_t out[NQ * 64];
    static long found[NQ];
    for (int i = 0; i < NQ; i++) {
        if (i % 2)
            make_video_item(&items[i], qframes[i]);
        else
            make_image_item(&items[i]);
    }
    for (int i = 0; i < NQ; i++) {
        ref_item(&items[i], &r);
        long k = sitr_msearch_item(S, &items[i], out, 64);
        assert_true(k >= 0);
        assert_same(out, (size_t)k, &r);
        size_t nall;
        const sitr_msearch_match_t *all = sitr_msearch_results(S, &nall);
        assert_same(all, nall, &r);
        for (size_t m = 0; m < r.n; m++)
            signals_seen[r.m[m].signal]++;
    }
    /* The batch: the same answers. */
    assert_int_equal(sitr_msearch_batch(S, items, NQ, out, 64, found), 0);
    for (int i = 0; i < NQ; i++) {
        ref_item(&items[i], &r);
        assert_same(out + i * 64, (size_t)found[i], &r);
    }
    /* The data exercised every signal (else the test proves little). */
    for (int s = 0; s < 6; s++)
        assert_true(signals_seen[s] > 0);
}

/* ---- the reverse direction ---------------------------------------------------------- */

static void ref_case_image(const image_t *im, ref_t *r)
{
    static sitr_vmatch_hit_t h[100000];
    sitr_vmatch_params_t p = params();
    r->n = 0;
    for (int i = 0; i < NUI; i++) {
        int best = 999;
        for (int v = 0; v < im->nvar; v++) {
            int d = sitr_pdq_distance(&uimages[i].var[0], &im->var[v]);
            best = d < best ? d : best;
        }
        if (best <= RADIUS)
            ref_push(r, SITR_MSEARCH_IMAGE, uimages[i].id, SITR_SIGNAL_PDQ, best, -1, -1);
    }
    for (int i = 0; i < NUV; i++) {
        const video_t *u = &uvideos[i];
        sitr_vmatch_frame_t qf[MAXF];
        uint32_t work[2 * MAXF];
        size_t s = 0;
        for (size_t k = 0; k < u->nin; k++)
            if (u->in[k].quality >= 50) {
                qf[s] = (sitr_vmatch_frame_t){u->t[s], u->pdq[s], u->in[k].quality};
                s++;
            }
        sitr_vmatch_query_t q;
        assert_int_equal(sitr_vmatch_query_prepare(&q, qf, u->n, work, &p), 0);
        size_t nh = 0;
        for (size_t f = 0; f < u->n; f++)
            for (int v = 0; v < im->nvar; v++) {
                int d = sitr_pdq_distance(&u->pdq[f], &im->var[v]);
                if (d <= RADIUS)
                    h[nh++] = (sitr_vmatch_hit_t){(uint32_t)f, 0, 0, 0, (uint8_t)v, 0, (uint16_t)d};
            }
        int d = sitr_vmatch_image_in_video(&q, h, nh, &p, NULL);
        if (d >= 0)
            ref_push(r, SITR_MSEARCH_VIDEO, u->id, SITR_SIGNAL_VIDEO_FRAME, d, -1, -1);
    }
    ref_finish(r);
}

static void ref_case_video(const video_t *v, ref_t *r)
{
    static sitr_vmatch_hit_t h[200000];
    sitr_vmatch_params_t p = params();
    r->n = 0;
    sitr_vmatch_case_t cv = case_of(v);
    for (int i = 0; i < NUI; i++) {
        size_t nh = 0;
        for (size_t s = 0; s < v->n; s++) {
            sitr_pdq_t hs[9];
            unsigned kind[9];
            int nk = slot_hashes(v, s, hs, kind);
            for (int k = 0; k < nk; k++) {
                int d = sitr_pdq_distance(&uimages[i].var[0], &hs[k]);
                if (d <= RADIUS)
                    h[nh++] = (sitr_vmatch_hit_t){0, 0, 0, 0, (uint8_t)kind[k], 0, (uint16_t)d};
            }
        }
        int d = sitr_vmatch_still(h, nh, &p);
        if (d >= 0)
            ref_push(r, SITR_MSEARCH_IMAGE, uimages[i].id, SITR_SIGNAL_VIDEO_FRAME, d, -1, -1);
    }
    for (int i = 0; i < NUV; i++) {
        const video_t *u = &uvideos[i];
        sitr_vmatch_frame_t qf[MAXF];
        uint32_t work[2 * MAXF];
        size_t s = 0;
        for (size_t k = 0; k < u->nin; k++)
            if (u->in[k].quality >= 50) {
                qf[s] = (sitr_vmatch_frame_t){u->t[s], u->pdq[s], u->in[k].quality};
                s++;
            }
        sitr_vmatch_query_t q;
        assert_int_equal(sitr_vmatch_query_prepare(&q, qf, u->n, work, &p), 0);
        size_t nh = 0;
        for (size_t f = 0; f < u->n; f++)
            for (size_t cs = 0; cs < v->n; cs++) {
                sitr_pdq_t hs[9];
                unsigned kind[9];
                int nk = slot_hashes(v, cs, hs, kind);
                for (int k = 0; k < nk; k++) {
                    int d = sitr_pdq_distance(&u->pdq[f], &hs[k]);
                    if (d <= RADIUS)
                        h[nh++] = (sitr_vmatch_hit_t){(uint32_t)f, class_of(v, cs),  v->t[cs],
                                                      v->t[cs],    (uint8_t)kind[k], 0,
                                                      (uint16_t)d};
                }
            }
        push_decision(r, &q, &cv, h, nh, SITR_MSEARCH_VIDEO, u->id);
    }
    ref_finish(r);
}

static void test_reverse_against_brute_force(void **state)
{
    (void)state;
    static ref_t r;
    size_t total = 0, videos_found = 0;
    for (int i = 0; i < NI; i++) {
        const image_t *im = &images[i];
        uint8_t vars[8];
        for (int v = 0; v < im->nvar; v++)
            vars[v] = (uint8_t)v;
        ref_case_image(im, &r);
        long k = sitr_msearch_case_image(S, im->var, vars, (size_t)im->nvar);
        assert_true(k >= 0);
        size_t n;
        const sitr_msearch_match_t *got = sitr_msearch_results(S, &n);
        assert_int_equal((size_t)k, n);
        assert_same(got, n, &r);
        total += n;
    }
    for (int i = 0; i < NV; i++) {
        const video_t *v = &videos[i];
        uint8_t *buf;
        size_t len, kept;
        assert_int_equal(sitr_vpack(v->in, v->nin, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_DEFAULT,
                                    &buf, &len, &kept, NULL),
                         0);
        ref_case_video(v, &r);
        long k = sitr_msearch_case_video(S, v->id, buf, len);
        free(buf);
        assert_true(k >= 0);
        size_t n;
        const sitr_msearch_match_t *got = sitr_msearch_results(S, &n);
        assert_same(got, n, &r);
        total += n;
        for (size_t m = 0; m < n; m++)
            videos_found +=
                got[m].signal == SITR_SIGNAL_VPDQ_EXCERPT || got[m].signal == SITR_SIGNAL_VPDQ_COPY;
    }
    assert_true(total > 0);
    assert_true(videos_found > 0);
}

/* Frame ids are never read as images: a case video whose id equals a case
 * image's is answered as a video, and a still query on it names the video. */
static void test_namespaces(void **state)
{
    (void)state;
    const video_t *v = &videos[1];
    assert_int_equal(v->id, images[1].id);
    sitr_msearch_item_t it;
    memset(&it, 0, sizeof it);
    it.has_pdq = 1;
    it.quality = 100;
    it.pdq = v->pdq[0];
    sitr_msearch_match_t out[64];
    long k = sitr_msearch_item(S, &it, out, 64);
    int seen = 0;
    for (long i = 0; i < k; i++)
        if (out[i].id == v->id) {
            assert_int_equal(out[i].kind, SITR_MSEARCH_VIDEO);
            assert_int_equal(out[i].signal, SITR_SIGNAL_VIDEO_FRAME);
            assert_int_equal(out[i].distance, 0);
            seen = 1;
        }
    assert_true(seen);
    assert_string_equal(sitr_msearch_signal_name(SITR_SIGNAL_VPDQ_EXCERPT), "vpdq_excerpt");
    assert_string_equal(sitr_msearch_signal_name(SITR_SIGNAL_VIDEO_FRAME), "video_frame");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_against_brute_force),
        cmocka_unit_test(test_reverse_against_brute_force),
        cmocka_unit_test(test_namespaces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
