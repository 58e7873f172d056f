/* The per-video catalogue (vcat.h).
 *
 * A table of immutable records keyed by video id: open addressing with
 * linear probing and backward-shift deletion, grown by doubling at half
 * load.  A record is one allocation (header, query frames, times, distinct
 * numbers) built outside the lock from the packed frames; the exclusive
 * lock covers only the table write.  Readers take a reference under the
 * shared lock, so a record removed while a decision uses it is freed by the
 * last release, on whichever thread that is.
 *
 * Distinct-hash numbers: the slots sorted by plain hash (then slot), equal
 * hashes one number.  Period: the median of the positive steps between
 * consecutive stored times (dropped low-quality frames make some steps
 * longer; the median ignores them), 1 s when there is no step. */
#include "match/vcat.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "match/vframes.h"
#include "match/vid.h"

typedef struct rec {
    sitr_vcat_video_t pub; /* first: a public pointer is the record's */
    _Atomic long refs;
    size_t bytes;
} rec_t;

struct sitr_vcat {
    pthread_rwlock_t lock;
    rec_t **slots;
    size_t cap, n; /* cap: a power of two, or 0 */
    size_t frames, bytes;
    int keep_frames;
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void rec_unref(rec_t *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        free(r);
}

sitr_vcat_t *sitr_vcat_new(int frames)
{
    sitr_vcat_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (pthread_rwlock_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->keep_frames = frames != 0;
    return c;
}

static void drop_all(sitr_vcat_t *c)
{
    for (size_t i = 0; i < c->cap; i++)
        rec_unref(c->slots[i]);
    free(c->slots);
    c->slots = NULL;
    c->cap = c->n = c->frames = c->bytes = 0;
}

void sitr_vcat_free(sitr_vcat_t *c)
{
    if (!c)
        return;
    drop_all(c);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

/* ---- building a record (no lock) ------------------------------------- */

typedef struct keyed {
    sitr_pdq_t h;
    uint32_t slot;
} keyed_t;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    int c = memcmp(x->h.b, y->h.b, sizeof x->h.b);
    if (c)
        return c;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int build(int keep_frames, int64_t id, const uint8_t *packed, size_t len, double duration,
                 rec_t **out)
{
    long nf = sitr_vframes_validate(packed, len);
    if (nf < 0 || (uint64_t)nf > SITR_VID_MAX_SLOTS)
        return SITR_EINVAL;
    size_t n = (size_t)nf;
    size_t off_frames = (sizeof(rec_t) + 15) & ~(size_t)15;
    size_t off_t = off_frames + (keep_frames ? n * sizeof(sitr_vmatch_frame_t) : 0);
    size_t off_c = off_t + n * sizeof(float);
    size_t total = off_c + n * sizeof(uint32_t);
    uint8_t *blk = malloc(total);
    keyed_t *k = malloc(n * sizeof *k);
    double *steps = malloc(n * sizeof *steps);
    if (!blk || !k || !steps) {
        free(blk);
        free(k);
        free(steps);
        return SITR_ENOMEM;
    }
    rec_t *r = (rec_t *)blk;
    memset(r, 0, sizeof *r);
    sitr_vmatch_frame_t *frames = keep_frames ? (sitr_vmatch_frame_t *)(blk + off_frames) : NULL;
    float *t = (float *)(blk + off_t);
    uint32_t *cframe = (uint32_t *)(blk + off_c);
    size_t pos = 0, nsteps = 0;
    sitr_vframe_t f;
    for (size_t i = 0; i < n; i++) {
        int rc = sitr_vframes_next(packed, len, &pos, &f);
        (void)rc; /* validated above: always 1 */
        t[i] = f.t;
        k[i].h = f.pdq;
        k[i].slot = (uint32_t)i;
        if (frames) {
            frames[i].t = f.t;
            frames[i].pdq = f.pdq;
            frames[i].quality = f.quality;
        }
        if (i > 0 && t[i] > t[i - 1])
            steps[nsteps++] = (double)t[i] - (double)t[i - 1];
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    uint32_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(k[i].h.b, k[i - 1].h.b, sizeof k[i].h.b) != 0)
            d++;
        cframe[k[i].slot] = d;
    }
    double period = 1.0;
    if (nsteps) {
        qsort(steps, nsteps, sizeof *steps, cmp_double);
        period = steps[nsteps / 2];
    }
    double last = t[n - 1];
    if (!(duration >= last) || !isfinite(duration))
        duration = last + period;
    free(k);
    free(steps);
    r->pub.id = id;
    r->pub.nslots = (uint32_t)n;
    r->pub.distinct = d + 1;
    r->pub.duration = duration;
    r->pub.period = period;
    r->pub.span = last - t[0] + period < duration ? last - t[0] + period : duration;
    r->pub.t = t;
    r->pub.cframe = cframe;
    r->pub.frames = frames;
    r->bytes = total;
    atomic_init(&r->refs, 1);
    *out = r;
    return 0;
}

/* ---- the table (callers hold the lock) -------------------------------- */

static size_t find_slot(const sitr_vcat_t *c, int64_t id)
{
    size_t mask = c->cap - 1;
    size_t i = (size_t)mix((uint64_t)id) & mask;
    while (c->slots[i] && c->slots[i]->pub.id != id)
        i = (i + 1) & mask;
    return i;
}

static int grow(sitr_vcat_t *c)
{
    size_t cap = c->cap ? c->cap * 2 : 64;
    rec_t **ns = calloc(cap, sizeof *ns);
    if (!ns)
        return SITR_ENOMEM;
    rec_t **old = c->slots;
    size_t ocap = c->cap;
    c->slots = ns;
    c->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            c->slots[find_slot(c, old[i]->pub.id)] = old[i];
    free(old);
    return 0;
}

/* Takes the record at slot i out, shifting the following run back. */
static rec_t *take(sitr_vcat_t *c, size_t i)
{
    size_t mask = c->cap - 1;
    rec_t *gone = c->slots[i];
    c->slots[i] = NULL;
    for (size_t j = (i + 1) & mask; c->slots[j]; j = (j + 1) & mask) {
        size_t home = (size_t)mix((uint64_t)c->slots[j]->pub.id) & mask;
        /* Move j back to i when its home is not in (i, j] cyclically. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            c->slots[i] = c->slots[j];
            c->slots[j] = NULL;
            i = j;
        }
    }
    c->n--;
    c->frames -= gone->pub.nslots;
    c->bytes -= gone->bytes;
    return gone;
}

int sitr_vcat_put(sitr_vcat_t *c, int64_t id, const uint8_t *packed, size_t len, double duration)
{
    rec_t *r;
    int rc = build(c->keep_frames, id, packed, len, duration, &r);
    if (rc < 0)
        return rc;
    rec_t *old = NULL;
    pthread_rwlock_wrlock(&c->lock);
    if (c->cap == 0 || (c->n + 1) * 2 > c->cap)
        rc = grow(c);
    if (rc == 0) {
        size_t i = find_slot(c, id);
        old = c->slots[i];
        if (old) {
            c->frames -= old->pub.nslots;
            c->bytes -= old->bytes;
            c->n--;
        }
        c->slots[i] = r;
        c->n++;
        c->frames += r->pub.nslots;
        c->bytes += r->bytes;
    }
    pthread_rwlock_unlock(&c->lock);
    if (rc < 0)
        free(r);
    rec_unref(old);
    return rc;
}

int sitr_vcat_remove(sitr_vcat_t *c, int64_t id)
{
    rec_t *gone = NULL;
    pthread_rwlock_wrlock(&c->lock);
    if (c->cap) {
        size_t i = find_slot(c, id);
        if (c->slots[i])
            gone = take(c, i);
    }
    pthread_rwlock_unlock(&c->lock);
    rec_unref(gone);
    return gone != NULL;
}

void sitr_vcat_clear(sitr_vcat_t *c)
{
    pthread_rwlock_wrlock(&c->lock);
    drop_all(c);
    pthread_rwlock_unlock(&c->lock);
}

const sitr_vcat_video_t *sitr_vcat_get(sitr_vcat_t *c, int64_t id)
{
    rec_t *r = NULL;
    pthread_rwlock_rdlock(&c->lock);
    if (c->cap) {
        r = c->slots[find_slot(c, id)];
        if (r)
            atomic_fetch_add(&r->refs, 1);
    }
    pthread_rwlock_unlock(&c->lock);
    return r ? &r->pub : NULL;
}

void sitr_vcat_release(const sitr_vcat_video_t *v)
{
    rec_unref((rec_t *)(uintptr_t)v);
}

size_t sitr_vcat_size(sitr_vcat_t *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->n;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

size_t sitr_vcat_frames(sitr_vcat_t *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->frames;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

size_t sitr_vcat_bytes(sitr_vcat_t *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->bytes + c->cap * sizeof *c->slots;
    pthread_rwlock_unlock(&c->lock);
    return n;
}
