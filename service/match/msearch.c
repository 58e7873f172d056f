/* Searching images and videos in the replica's indexes (msearch.h).
 *
 * Every search collects raw hits (entry id, query tag, distance), sorts
 * them by entry id so that the entries of one image or one video are
 * adjacent (image ids: image << 3 | variant; frame ids: bit 63 | video << 24
 * | slot << 4 | kind, vid.h), and turns each group into one candidate
 * target through the video decisions (vmatch.h).  Candidates are then
 * reduced to one per target (its strongest signal) and sorted.  Nothing
 * depends on the order of the index's answer, so a batched search gives
 * the same answers as single ones.
 *
 * Query tags: for image items the item's position in the batch; for video
 * items and reverse searches (query frame or case slot) << 4 | the variant
 * or trimmed flag.
 *
 * Memory: the searcher's buffers grow to the largest request seen and are
 * reused; nothing is allocated per hit.  Thread: the caller's (one
 * searcher per thread). */
#include "match/msearch.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "match/vcat.h"
#include "match/vframes.h"
#include "match/vid.h"

/* Queries per sitr_index_search_batch call and index hits kept per query in
 * it: a genuine query hits a few entries; one with more is searched again
 * alone with room for all of them. */
#define CHUNK 64
#define PER   32

typedef struct raw {
    uint64_t id;
    uint32_t tag;
    uint16_t distance;
} raw_t;

typedef struct cand {
    sitr_msearch_match_t m;
} cand_t;

struct sitr_msearch {
    const sitr_replica_indexes_t *ix;
    int radius;
    sitr_vmatch_params_t p;

    sitr_pdq_t *q;
    uint32_t *qtag;
    size_t nq, qcap;
    size_t qfound[CHUNK];
    sitr_index_hit_t *hits; /* CHUNK * PER */
    sitr_index_hit_t *big;
    size_t bigcap;

    raw_t *raw;
    size_t nraw, rawcap;
    sitr_msearch_match_t *c;
    size_t nc, ccap;
    sitr_vmatch_hit_t *vh;
    size_t vhcap;
    uint8_t *scratch;
    size_t scratchcap;
    sitr_vmatch_frame_t *qf;
    uint32_t *work;    /* 2 per query frame: vmatch's */
    uint32_t *nextdup; /* 2 per query frame: the next frame with the same hash, then scratch */
    size_t qfcap;
    uint64_t ids[64];
};

static const char *const signal_names[] = {"sha256",       "md5", "vpdq_copy",
                                           "vpdq_excerpt", "pdq", "video_frame"};

void sitr_msearch_wipe(sitr_msearch_t *s)
{
    if (!s)
        return;
    if (s->q)
        sodium_memzero(s->q, s->qcap * sizeof *s->q);
    if (s->qf)
        sodium_memzero(s->qf, s->qfcap * sizeof *s->qf);
    s->nq = 0;
}

int sitr_msearch_band(int distance, int threshold)
{
    if (distance == 0)
        return 0;
    if (distance <= SITR_MSEARCH_BAND_NEAR && SITR_MSEARCH_BAND_NEAR < threshold)
        return SITR_MSEARCH_BAND_NEAR;
    return threshold;
}

const char *sitr_msearch_signal_name(sitr_msearch_signal_t s)
{
    return (unsigned)s < sizeof signal_names / sizeof signal_names[0] ? signal_names[s] : "?";
}

sitr_msearch_t *sitr_msearch_new(const sitr_replica_indexes_t *ix, int radius,
                                 const sitr_vmatch_params_t *p)
{
    if (!ix || radius < 0 || radius > 256)
        return NULL;
    sitr_msearch_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ix = ix;
    s->radius = radius;
    if (p) {
        s->p = *p;
    } else {
        /* Every stored variant counts: the storage policy (vpack.h,
         * --case-video-dihedral) decides which exist, and a case image's
         * eight variants all match, as for an image query. */
        sitr_vmatch_params_default(&s->p);
        s->p.families = 0xffu;
    }
    s->p.max_distance = radius;
    s->hits = malloc(CHUNK * PER * sizeof *s->hits);
    if (!s->hits) {
        free(s);
        return NULL;
    }
    return s;
}

void sitr_msearch_free(sitr_msearch_t *s)
{
    if (!s)
        return;
    free(s->q);
    free(s->qtag);
    free(s->hits);
    free(s->big);
    free(s->raw);
    free(s->c);
    free(s->vh);
    free(s->scratch);
    free(s->qf);
    free(s->work);
    free(s->nextdup);
    free(s);
}

const sitr_msearch_match_t *sitr_msearch_results(const sitr_msearch_t *s, size_t *n)
{
    *n = s->nc;
    return s->c;
}

/* ---- buffers -------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = need + need / 2 + 16;
    void *np = realloc(*p, c * size);
    if (!np)
        return SITR_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

static int query_push(sitr_msearch_t *s, const sitr_pdq_t *h, uint32_t tag)
{
    if (s->nq == s->qcap) {
        size_t cap = s->qcap;
        if (grow((void **)&s->q, &cap, s->nq + 1, sizeof *s->q) < 0)
            return SITR_ENOMEM;
        size_t cap2 = s->qcap;
        if (grow((void **)&s->qtag, &cap2, s->nq + 1, sizeof *s->qtag) < 0)
            return SITR_ENOMEM;
        s->qcap = cap < cap2 ? cap : cap2;
    }
    s->q[s->nq] = *h;
    s->qtag[s->nq] = tag;
    s->nq++;
    return 0;
}

static int raw_push(sitr_msearch_t *s, uint64_t id, uint32_t tag, int distance)
{
    if (s->nraw == s->rawcap && grow((void **)&s->raw, &s->rawcap, s->nraw + 1, sizeof *s->raw) < 0)
        return SITR_ENOMEM;
    s->raw[s->nraw++] = (raw_t){id, tag, (uint16_t)distance};
    return 0;
}

static int cand_push(sitr_msearch_t *s, sitr_msearch_kind_t kind, int64_t id,
                     sitr_msearch_signal_t sig, int distance, double coverage, double run)
{
    if (s->nc == s->ccap && grow((void **)&s->c, &s->ccap, s->nc + 1, sizeof *s->c) < 0)
        return SITR_ENOMEM;
    s->c[s->nc++] = (sitr_msearch_match_t){kind, id, sig, distance, coverage, run, -1};
    return 0;
}

/* ---- searching -------------------------------------------------------------- */

/* Every hit of q within the radius, all of them, into s->big. */
static int search_all(sitr_msearch_t *s, sitr_index_t *idx, const sitr_pdq_t *q, size_t *found)
{
    for (;;) {
        int rc = sitr_index_search(idx, q, s->radius, s->big, s->bigcap, found, NULL);
        if (rc < 0 || *found <= s->bigcap)
            return rc;
        if (grow((void **)&s->big, &s->bigcap, *found, sizeof *s->big) < 0)
            return SITR_ENOMEM;
    }
}

/* Searches the queries s->q[from..s->nq) in idx and appends their hits to
 * s->raw with their tags, in query order. */
static int run_queries(sitr_msearch_t *s, sitr_index_t *idx, size_t from)
{
    if (!idx)
        return 0;
    for (size_t at = from; at < s->nq; at += CHUNK) {
        size_t m = s->nq - at < CHUNK ? s->nq - at : CHUNK;
        int rc =
            sitr_index_search_batch(idx, s->q + at, m, s->radius, s->hits, PER, s->qfound, NULL);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < m; i++) {
            const sitr_index_hit_t *h = s->hits + i * PER;
            size_t nf = s->qfound[i];
            if (nf > PER) {
                if ((rc = search_all(s, idx, &s->q[at + i], &nf)) < 0)
                    return rc;
                h = s->big;
            }
            for (size_t k = 0; k < nf; k++)
                if ((rc = raw_push(s, h[k].id, s->qtag[at + i], h[k].distance)) < 0)
                    return rc;
        }
    }
    return 0;
}

static int cmp_raw(const void *a, const void *b)
{
    const raw_t *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return (x->distance > y->distance) - (x->distance < y->distance);
}

static void sort_raw(raw_t *r, size_t n)
{
    if (n > 1)
        qsort(r, n, sizeof *r, cmp_raw);
}

/* The group of entries of one image or one video starting at r[i]: its end. */
static size_t group_end(const raw_t *r, size_t n, size_t i)
{
    size_t j = i + 1;
    if (sitr_vid_is_frame(r[i].id)) {
        int64_t v = sitr_vid_video(r[i].id);
        while (j < n && sitr_vid_is_frame(r[j].id) && sitr_vid_video(r[j].id) == v)
            j++;
    } else {
        uint64_t img = r[i].id >> SITR_REPLICA_VARIANT_BITS;
        while (j < n && !sitr_vid_is_frame(r[j].id) && r[j].id >> SITR_REPLICA_VARIANT_BITS == img)
            j++;
    }
    return j;
}

static int digests(sitr_msearch_t *s, const sitr_msearch_item_t *it)
{
    for (int k = 0; k < 2; k++) {
        int has = k == 0 ? it->has_sha256 : it->has_md5;
        sitr_digest_index_t *d = k == 0 ? s->ix->case_sha256 : s->ix->case_md5;
        if (!has || !d)
            continue;
        const uint8_t *key = k == 0 ? it->sha256 : it->md5;
        uint64_t *ids = s->ids;
        size_t total = sitr_digest_index_lookup(d, key, ids, 64);
        if (total > 64) {
            /* Rare (one file in many cases); the table may change between
             * the two calls: the second answer counts. */
            ids = malloc(total * sizeof *ids);
            if (!ids)
                return SITR_ENOMEM;
            size_t again = sitr_digest_index_lookup(d, key, ids, total);
            if (again < total)
                total = again;
        }
        int rc = 0;
        for (size_t i = 0; i < total && rc == 0; i++) {
            int video = sitr_vid_is_frame(ids[i]);
            int64_t id = (int64_t)(ids[i] & ~SITR_VID_FRAME_BIT);
            rc = cand_push(s, video ? SITR_MSEARCH_VIDEO : SITR_MSEARCH_IMAGE, id,
                           k == 0 ? SITR_SIGNAL_SHA256 : SITR_SIGNAL_MD5, 0, -1, -1);
        }
        if (ids != s->ids)
            free(ids);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int vh_reserve(sitr_msearch_t *s, size_t n)
{
    return grow((void **)&s->vh, &s->vhcap, n, sizeof *s->vh);
}

/* ---- answers ---------------------------------------------------------------- */

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

/* Candidates s->c[from..nc) reduced to one per target and sorted; s->nc
 * shrinks accordingly.  Returns the number of targets. */
static size_t reduce(sitr_msearch_t *s, size_t from)
{
    size_t n = s->nc - from;
    if (n == 0)
        return 0;
    sitr_msearch_match_t *c = s->c + from;
    qsort(c, n, sizeof *c, cmp_target);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || c[k - 1].kind != c[i].kind || c[k - 1].id != c[i].id)
            c[k++] = c[i];
    qsort(c, k, sizeof *c, cmp_answer);
    s->nc = from + k;
    return k;
}

/* ---- image queries ------------------------------------------------------------ */

/* The candidates of an image query from its (id-sorted) hits r[0..n). */
static int image_cands(sitr_msearch_t *s, const raw_t *r, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = group_end(r, n, i);
        if (!sitr_vid_is_frame(r[i].id)) {
            int best = r[i].distance;
            for (size_t k = i + 1; k < j; k++)
                if (r[k].distance < best)
                    best = r[k].distance;
            rc = cand_push(s, SITR_MSEARCH_IMAGE, (int64_t)(r[i].id >> SITR_REPLICA_VARIANT_BITS),
                           SITR_SIGNAL_PDQ, best, -1, -1);
        } else {
            if ((rc = vh_reserve(s, j - i)) < 0)
                return rc;
            for (size_t k = i; k < j; k++) {
                unsigned kind = sitr_vid_kind(r[k].id);
                s->vh[k - i] = (sitr_vmatch_hit_t){0, 0, 0, 0, (uint8_t)kind, 0, r[k].distance};
            }
            int d = sitr_vmatch_still(s->vh, j - i, &s->p);
            if (d >= 0)
                rc = cand_push(s, SITR_MSEARCH_VIDEO, sitr_vid_video(r[i].id),
                               SITR_SIGNAL_VIDEO_FRAME, d, -1, -1);
        }
        i = j;
    }
    return rc;
}

static int pdq_searched(const sitr_msearch_item_t *it)
{
    return !it->frames && it->has_pdq && it->quality >= SITR_PDQ_MIN_QUALITY && it->quality <= 100;
}

/* ---- video queries ------------------------------------------------------------ */

/* s->qf / s->work for n query frames. */
static int query_frames_reserve(sitr_msearch_t *s, size_t n)
{
    if (n <= s->qfcap)
        return 0;
    size_t cap = s->qfcap, cap2 = s->qfcap * 2, cap3 = s->qfcap * 2;
    if (grow((void **)&s->qf, &cap, n, sizeof *s->qf) < 0)
        return SITR_ENOMEM;
    if (grow((void **)&s->work, &cap2, 2 * cap, sizeof *s->work) < 0 ||
        grow((void **)&s->nextdup, &cap3, 2 * cap, sizeof *s->nextdup) < 0)
        return SITR_ENOMEM;
    s->qfcap = cap;
    return 0;
}

/* s->nextdup[i]: the next query frame after i with frame i's (usable)
 * hash, UINT32_MAX at the last.  Only the first frame of each hash is
 * searched; its hits stand for every frame with that hash (their times
 * differ, which the excerpt chain needs). */
static void link_duplicates(sitr_msearch_t *s, const sitr_vmatch_query_t *q)
{
    uint32_t *last = s->nextdup + q->n;
    for (size_t i = 0; i < q->n; i++)
        last[i] = UINT32_MAX;
    for (size_t i = q->n; i-- > 0;) {
        s->nextdup[i] = UINT32_MAX;
        uint32_t r = q->rep[i];
        if (r == UINT32_MAX)
            continue;
        s->nextdup[i] = last[r];
        last[r] = (uint32_t)i;
    }
}

static int vh_push(sitr_msearch_t *s, size_t *nh, sitr_vmatch_hit_t h)
{
    if (*nh == s->vhcap && vh_reserve(s, *nh + 1) < 0)
        return SITR_ENOMEM;
    s->vh[(*nh)++] = h;
    return 0;
}

static int scratch_reserve(sitr_msearch_t *s, size_t bytes)
{
    return grow((void **)&s->scratch, &s->scratchcap, bytes, 1);
}

/* The candidate of one (query video, case video) decision. */
static int decide_push(sitr_msearch_t *s, const sitr_vmatch_query_t *q, const sitr_vcat_video_t *v,
                       size_t nh, sitr_msearch_kind_t kind, int64_t id)
{
    sitr_vmatch_case_t cv = {v->distinct, v->span, v->period};
    size_t need = sitr_vmatch_scratch_size(q->n, v->distinct, nh);
    if (scratch_reserve(s, need) < 0)
        return SITR_ENOMEM;
    sitr_vmatch_result_t res;
    if (sitr_vmatch_decide(q, &cv, s->vh, nh, &s->p, s->scratch, s->scratchcap, &res) < 0)
        return SITR_EINVAL; /* scratch sized above: a bug of ours */
    if (!res.still)
        return 0; /* no usable hit within the radius: nothing at all */
    /* Meta's copy rule is a query share, so every excerpt passes it: a
     * copy that does not also cover the case video is reported as the
     * excerpt it is, when its run is long enough.  "Covers" is the compared
     * share of distinct case frames OR the case time its aligned run spans:
     * a case stored at 5 fps and a platform's 1-fps re-encode share only
     * about one case frame in five, yet the run spans the whole video. */
    int whole = res.copy && (res.copy_compared >= s->p.copy_percent ||
                             res.run_case_share * 100.0 >= s->p.copy_percent);
    /* Meta's rule alone names a copy only for what HMA would call one and
     * an excerpt cannot: a clip shorter than S with at least two distinct
     * matching frames.  One matching frame is a still, whatever its length. */
    double qspan = q->n ? q->frames[q->n - 1].t - q->frames[0].t + q->period : 0;
    int short_clip = res.copy && qspan < s->p.excerpt_seconds &&
                     res.copy_query * (double)q->usable / 100.0 >= 1.5;
    sitr_msearch_signal_t sig = whole         ? SITR_SIGNAL_VPDQ_COPY
                                : res.excerpt ? SITR_SIGNAL_VPDQ_EXCERPT
                                : short_clip  ? SITR_SIGNAL_VPDQ_COPY
                                              : SITR_SIGNAL_VIDEO_FRAME;
    double cov = res.copy_compared / 100.0;
    if (res.run_case_share > cov)
        cov = res.run_case_share;
    if (!(cov >= 0))
        cov = 0;
    if (cov > 1)
        cov = 1;
    int rc = cand_push(s, kind, id, sig, res.still_distance, cov, res.run_seconds);
    if (rc == 0) {
        double qs = res.copy_query / 100.0;
        s->c[s->nc - 1].query_share = qs >= 0 ? (qs <= 1 ? qs : 1) : 0;
    }
    return rc;
}

/* Candidates of a prepared video query from its id-sorted case-index hits
 * (tags: query frame << 1 | trimmed; a plain hit stands for every frame
 * with that hash). */
static int video_cands(sitr_msearch_t *s, const sitr_vmatch_query_t *q, const raw_t *r, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = group_end(r, n, i);
        size_t nh = 0;
        if (!sitr_vid_is_frame(r[i].id)) {
            for (size_t k = i; k < j && rc == 0; k++) {
                uint32_t f = r[k].tag >> 1;
                int trim = r[k].tag & 1u;
                do {
                    rc = vh_push(s, &nh,
                                 (sitr_vmatch_hit_t){f, 0, 0, 0, (uint8_t)(r[k].id & 7u),
                                                     (uint8_t)trim, r[k].distance});
                    f = trim ? UINT32_MAX : s->nextdup[f];
                } while (rc == 0 && f != UINT32_MAX);
            }
            int d = rc < 0 ? -1 : sitr_vmatch_image_in_video(q, s->vh, nh, &s->p, NULL);
            if (d >= 0)
                rc = cand_push(s, SITR_MSEARCH_IMAGE,
                               (int64_t)(r[i].id >> SITR_REPLICA_VARIANT_BITS),
                               SITR_SIGNAL_VIDEO_FRAME, d, -1, -1);
        } else {
            int64_t vid = sitr_vid_video(r[i].id);
            const sitr_vcat_video_t *v =
                s->ix->case_videos ? sitr_vcat_get(s->ix->case_videos, vid) : NULL;
            if (v) {
                for (size_t k = i; k < j && rc == 0; k++) {
                    uint32_t slot = sitr_vid_slot(r[k].id);
                    if (slot >= v->nslots)
                        continue; /* replaced meanwhile: not this video's frame */
                    double t = v->t[slot];
                    uint32_t f = r[k].tag >> 1;
                    int trim = r[k].tag & 1u;
                    do {
                        rc = vh_push(s, &nh,
                                     (sitr_vmatch_hit_t){f, v->cframe[slot], t, t,
                                                         (uint8_t)sitr_vid_kind(r[k].id),
                                                         (uint8_t)trim, r[k].distance});
                        f = trim ? UINT32_MAX : s->nextdup[f];
                    } while (rc == 0 && f != UINT32_MAX);
                }
                if (rc == 0)
                    rc = decide_push(s, q, v, nh, SITR_MSEARCH_VIDEO, vid);
                sitr_vcat_release(v);
            }
        }
        i = j;
    }
    return rc;
}

static int video_item(sitr_msearch_t *s, const sitr_msearch_item_t *it)
{
    size_t n = it->nframes;
    if (n >= (1u << 27))
        return SITR_ETOOBIG;
    int rc = query_frames_reserve(s, n ? n : 1);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        s->qf[i].t = it->frames[i].t;
        s->qf[i].pdq = it->frames[i].pdq;
        s->qf[i].quality = it->frames[i].quality;
    }
    sitr_vmatch_query_t q;
    memset(&q, 0, sizeof q);
    if (n && sitr_vmatch_query_prepare(&q, s->qf, n, s->work, &s->p) < 0)
        return SITR_EINVAL;
    link_duplicates(s, &q);
    s->nq = 0;
    for (size_t i = 0; n && i < n && rc == 0; i++) {
        const sitr_vframe_in_t *f = &it->frames[i];
        if (q.rep[i] == (uint32_t)i) /* usable, first of its hash */
            rc = query_push(s, &f->pdq, (uint32_t)i << 1);
        if (rc == 0 && f->has_trimmed && f->trimmed_quality >= SITR_PDQ_MIN_QUALITY &&
            f->trimmed_quality <= 100 && q.rep[i] != UINT32_MAX)
            rc = query_push(s, &f->trimmed, (uint32_t)i << 1 | 1u);
    }
    s->nraw = 0;
    if (rc == 0)
        rc = run_queries(s, s->ix->case_pdq, 0);
    if (rc == 0) {
        sort_raw(s->raw, s->nraw);
        rc = video_cands(s, &q, s->raw, s->nraw);
    }
    return rc;
}

/* ---- items ---------------------------------------------------------------------- */

static long copy_out(const sitr_msearch_t *s, size_t from, size_t k, sitr_msearch_match_t *out,
                     size_t max)
{
    for (size_t i = 0; i < k && i < max; i++)
        out[i] = s->c[from + i];
    return (long)k;
}

long sitr_msearch_item(sitr_msearch_t *s, const sitr_msearch_item_t *item,
                       sitr_msearch_match_t *out, size_t max)
{
    s->nc = 0;
    int rc = digests(s, item);
    if (rc == 0 && item->frames) {
        rc = video_item(s, item);
    } else if (rc == 0 && pdq_searched(item)) {
        s->nq = 0;
        s->nraw = 0;
        rc = query_push(s, &item->pdq, 0);
        if (rc == 0)
            rc = run_queries(s, s->ix->case_pdq, 0);
        if (rc == 0) {
            sort_raw(s->raw, s->nraw);
            rc = image_cands(s, s->raw, s->nraw);
        }
    }
    if (rc < 0) {
        s->nc = 0;
        return rc;
    }
    return copy_out(s, 0, reduce(s, 0), out, max);
}

int sitr_msearch_batch(sitr_msearch_t *s, const sitr_msearch_item_t *items, size_t n,
                       sitr_msearch_match_t *out, size_t max, long *found)
{
    /* The image PDQs first, all together; their hits come back grouped by
     * item in item order (run_queries keeps query order). */
    s->nq = 0;
    s->nraw = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (pdq_searched(&items[i]))
            rc = query_push(s, &items[i].pdq, (uint32_t)i);
    if (n >= UINT32_MAX)
        rc = SITR_EINVAL;
    if (rc == 0)
        rc = run_queries(s, s->ix->case_pdq, 0);
    if (rc < 0)
        return rc;
    /* The video items reuse s->raw: keep the image hits in a buffer of
     * their own when there are videos too. */
    raw_t *img = s->raw;
    size_t nimg = s->nraw, at = 0;
    int videos = 0;
    for (size_t i = 0; i < n; i++)
        videos |= items[i].frames != NULL;
    if (videos && nimg) {
        img = malloc(nimg * sizeof *img);
        if (!img)
            return SITR_ENOMEM;
        memcpy(img, s->raw, nimg * sizeof *img);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        s->nc = 0;
        rc = digests(s, &items[i]);
        if (rc == 0 && items[i].frames) {
            rc = video_item(s, &items[i]);
        } else if (rc == 0 && pdq_searched(&items[i])) {
            size_t end = at;
            while (end < nimg && img[end].tag == (uint32_t)i)
                end++;
            if (end > at) {
                sort_raw(img + at, end - at);
                rc = image_cands(s, img + at, end - at);
            }
            at = end;
        }
        if (rc == 0)
            found[i] = copy_out(s, 0, reduce(s, 0), out ? out + i * max : NULL, out ? max : 0);
    }
    if (img != s->raw)
        free(img);
    s->nc = 0;
    return rc;
}

/* ---- the reverse direction (matcher) ---------------------------------------------- */

/* Candidates from id-sorted upload-index hits r[0..n).  Tags: for a case
 * image, its variant; for a case video, slot << 4 | kind with the case
 * video's catalogue entry cv (may be NULL). */
static int upload_cands(sitr_msearch_t *s, const raw_t *r, size_t n, const sitr_vcat_video_t *cv)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = group_end(r, n, i);
        if ((rc = vh_reserve(s, j - i)) < 0)
            return rc;
        if (!sitr_vid_is_frame(r[i].id)) {
            /* An image upload: the whole id is the upload. */
            j = i + 1;
            while (j < n && r[j].id == r[i].id)
                j++;
            if (!cv) {
                int best = r[i].distance;
                for (size_t k = i + 1; k < j; k++)
                    if (r[k].distance < best)
                        best = r[k].distance;
                rc = cand_push(s, SITR_MSEARCH_IMAGE, (int64_t)r[i].id, SITR_SIGNAL_PDQ, best, -1,
                               -1);
            } else {
                for (size_t k = i; k < j; k++)
                    s->vh[k - i] = (sitr_vmatch_hit_t){
                        0, 0, 0, 0, (uint8_t)(r[k].tag & 15u), 0, r[k].distance};
                int d = sitr_vmatch_still(s->vh, j - i, &s->p);
                if (d >= 0)
                    rc = cand_push(s, SITR_MSEARCH_IMAGE, (int64_t)r[i].id, SITR_SIGNAL_VIDEO_FRAME,
                                   d, -1, -1);
            }
        } else {
            int64_t up = sitr_vid_video(r[i].id);
            const sitr_vcat_video_t *u =
                s->ix->upload_videos ? sitr_vcat_get(s->ix->upload_videos, up) : NULL;
            if (u && u->frames && (rc = query_frames_reserve(s, u->nslots)) == 0) {
                sitr_vmatch_query_t q;
                if (sitr_vmatch_query_prepare(&q, u->frames, u->nslots, s->work, &s->p) == 0) {
                    size_t nh = 0;
                    for (size_t k = i; k < j; k++) {
                        uint32_t us = sitr_vid_slot(r[k].id);
                        if (us >= u->nslots)
                            continue;
                        if (!cv) {
                            s->vh[nh++] = (sitr_vmatch_hit_t){
                                us, 0, 0, 0, (uint8_t)(r[k].tag & 15u), 0, r[k].distance};
                            continue;
                        }
                        uint32_t cs = r[k].tag >> 4;
                        if (cs >= cv->nslots)
                            continue;
                        s->vh[nh++] = (sitr_vmatch_hit_t){
                            us, cv->cframe[cs], cv->t[cs], cv->t[cs], (uint8_t)(r[k].tag & 15u),
                            0,  r[k].distance};
                    }
                    if (!cv) {
                        int d = sitr_vmatch_image_in_video(&q, s->vh, nh, &s->p, NULL);
                        if (d >= 0)
                            rc = cand_push(s, SITR_MSEARCH_VIDEO, up, SITR_SIGNAL_VIDEO_FRAME, d,
                                           -1, -1);
                    } else {
                        rc = decide_push(s, &q, cv, nh, SITR_MSEARCH_VIDEO, up);
                    }
                }
            }
            if (u)
                sitr_vcat_release(u);
        }
        i = j;
    }
    return rc;
}

long sitr_msearch_case_image(sitr_msearch_t *s, const sitr_pdq_t *hashes, const uint8_t *variants,
                             size_t n)
{
    s->nc = 0;
    s->nq = 0;
    s->nraw = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = query_push(s, &hashes[i], variants[i] & 7u);
    if (rc == 0)
        rc = run_queries(s, s->ix->upload_pdq, 0);
    if (rc == 0) {
        sort_raw(s->raw, s->nraw);
        rc = upload_cands(s, s->raw, s->nraw, NULL);
    }
    if (rc < 0) {
        s->nc = 0;
        return rc;
    }
    return (long)reduce(s, 0);
}

long sitr_msearch_case_video(sitr_msearch_t *s, int64_t video_id, const uint8_t *packed, size_t len)
{
    s->nc = 0;
    s->nq = 0;
    s->nraw = 0;
    if (sitr_vframes_validate(packed, len) < 0)
        return SITR_EINVAL;
    size_t pos = 0;
    sitr_vframe_t f;
    int rc = 0;
    for (uint32_t slot = 0; rc == 0 && sitr_vframes_next(packed, len, &pos, &f) == 1; slot++) {
        if (slot >= SITR_VID_MAX_SLOTS)
            return SITR_EINVAL;
        rc = query_push(s, &f.pdq, slot << 4);
        int nv = 0;
        for (unsigned b = 0; rc == 0 && b < 8; b++)
            if (f.mask >> b & 1u)
                rc = query_push(s, &f.variants[nv++],
                                slot << 4 | (uint32_t)sitr_vframes_bit_kind(b));
    }
    if (rc == 0)
        rc = run_queries(s, s->ix->upload_pdq, 0);
    if (rc == 0) {
        sort_raw(s->raw, s->nraw);
        const sitr_vcat_video_t *cv =
            s->ix->case_videos ? sitr_vcat_get(s->ix->case_videos, video_id) : NULL;
        if (cv) {
            rc = upload_cands(s, s->raw, s->nraw, cv);
            sitr_vcat_release(cv);
        } else {
            /* Erased since, or not loaded: still find the image uploads
             * (a commit skips an erased video anyway). */
            size_t k = 0;
            while (k < s->nraw && !sitr_vid_is_frame(s->raw[k].id))
                k++;
            static const sitr_vcat_video_t none = {0, 0, 0, 0, 0, 0, NULL, NULL, NULL};
            rc = upload_cands(s, s->raw, k, &none);
        }
    }
    if (rc < 0) {
        s->nc = 0;
        return rc;
    }
    return (long)reduce(s, 0);
}
