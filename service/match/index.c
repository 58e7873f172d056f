/* Exact PDQ index by multi-index hashing (MIH) with query-time chunk radii.
 *
 * Correctness (generalised pigeonhole).  The 256 bits are partitioned into
 * m = 11 chunks (3 x 24 + 8 x 23 bits), so for a query q and an entry x the
 * distance d = sum_c d_c, d_c being the distance restricted to chunk c.  For
 * a radius r we pick per-chunk radii r_c >= -1 with sum_c (r_c + 1) = r + 1
 * (r_c = -1 means chunk c is not probed).  If every chunk had d_c >= r_c + 1
 * then d >= r + 1 > r; so d <= r implies some chunk has d_c <= r_c, which
 * needs r_c >= 0 and means that chunk's probe reaches x.  Each chunk probe
 * enumerates ALL keys within r_c of the query's chunk key, every candidate is
 * verified with the full 256-bit distance, hence the result is exactly the
 * brute-force set.  The extra units go to the wider chunks first: r = 31
 * gives r_c = 2 for ten chunks and 1 for the last; r = 32 gives 2 for all.
 * Radii above 43 would need r_c >= 4 and are served by a linear scan.
 *
 * Layout of a segment (immutable after build except tombstone bits): the
 * hashes as 4 x uint64 words and the ids, both sorted by the chunk-0 key
 * prefix; per chunk a directory of 2^k + 1 uint32 bucket starts over the top
 * k bits of the chunk key.  Chunk 0's postings are implicit (the bucket is a
 * run of entries) with its low key bits in a uint8 array; the other chunks
 * keep one uint32 per entry, (entry << s) | low s key bits.  A probe reads a
 * directory slot and scans one small bucket, filtering on the suffix bits,
 * so only entries whose whole chunk key is within r_c are fetched.  At 10M
 * entries k = 21: ~5 entries per bucket, ~90 bytes per entry in total.
 *
 * Duplicates are removed across chunks with the first-chunk rule: an entry
 * found through chunk c is reported only if no earlier probed chunk j has
 * d_j <= r_j (that chunk reports it).  Within a chunk each key is probed once.
 *
 * The index is a main segment (bulk build / compaction), a delta segment
 * (rebuilt from the tail when the tail overflows), up to
 * SITR_INDEX_MAX_ATTACHED segments built apart and attached under a tag,
 * and an unsorted tail of recent inserts scanned linearly.  All segments
 * have the same layout and are searched by the same loop, one after the
 * other; a full rebuild merges them all into a new main segment.  Deletes set a tombstone bit (or
 * remove from the tail).  Concurrency: searches hold a read lock; mutators take the writer mutex
 * (one at a time), build new segments without the read-write lock (segments are immutable and only
 * writers touch tombstones), and take the write lock only to append, tombstone or swap pointers.
 * The rwlock prefers writers so a stream of searches cannot starve them. */
#include "match/index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define SITR_INDEX_CHUNKS 11
#define MIH_MAX_RADIUS    43 /* needs per-chunk radii <= 3 */
/* Pipeline distances (in probes, probes and candidates) of the search
 * core, and the ring size that holds them; see index_core.h. */
#ifndef D_DIR
#define D_DIR 24
#endif
#ifndef D_POST
#define D_POST 24
#endif
#ifndef D_CAND
#define D_CAND 32
#endif
#define RING               64
#define CBUF               256 /* candidate buffer; verified in batches of CBUF - 16 - D_CAND */
#define BATCH_LOCK         16  /* queries per read-lock hold in a batch: writers wait <= a few ms */
#define TAIL_MAX           2048
#define DELTA_MIN          65536
#define MAX_ENTRIES        ((size_t)UINT32_MAX - 1)
#define BUCKET_TARGET_LOG2 2 /* 4-8 entries per bucket: short scans, dirs <= 11 B/entry */

static const uint8_t chunk_bits[SITR_INDEX_CHUNKS] = {24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23};
static const uint16_t chunk_off[SITR_INDEX_CHUNKS] = {0,   24,  48,  72,  95, 118,
                                                      141, 164, 187, 210, 233};

/* A segment; sitr_index_segment_t outside (standalone until attached). */
typedef struct sitr_index_segment {
    size_t n;
    uint64_t *h;   /* 4 * n words */
    uint64_t *ids; /* n */
    uint8_t *dead; /* tombstone bitmap, (n + 7) / 8 bytes */
    size_t ndead;
    uint8_t kbits[SITR_INDEX_CHUNKS];
    uint8_t sbits[SITR_INDEX_CHUNKS];
    uint32_t *dir[SITR_INDEX_CHUNKS];
    uint8_t *sfx0;
    uint32_t *post[SITR_INDEX_CHUNKS]; /* post[0] unused */
    size_t bytes;
    int attached; /* handed to an index by sitr_index_attach */
} seg_t;

/* The segment slots of an index: the main one, the delta, then the
 * attached ones (empty slots are NULL, in any order). */
#define SLOT_MAIN  0
#define SLOT_DELTA 1
#define SLOT_ATT   2
#define NSLOTS     (SLOT_ATT + SITR_INDEX_MAX_ATTACHED)

struct sitr_index {
    pthread_rwlock_t lock; /* readers: searches; writer: swaps, appends, tombstones */
    pthread_mutex_t wmu;   /* serialises mutators */
    seg_t *seg[NSLOTS];
    uint64_t tag[NSLOTS]; /* of the attached slots */
    uint64_t *th;         /* tail hashes, 4 words each */
    uint64_t *tid;
    size_t tn, tcap;
    _Atomic uint64_t searches;
    _Atomic uint64_t candidates;
};

/* Ring entries between the pipeline stages (qi: query within the batch). */
typedef struct pstage {
    uint32_t p, qs;
    uint8_t c, allow;
    uint16_t qi;
} pstage_t;

typedef struct bstage {
    uint32_t lo, hi, qs;
    uint8_t c, allow;
    uint16_t qi;
} bstage_t;

typedef struct cstage {
    uint32_t e;
    uint8_t c;
    uint16_t qi;
} cstage_t;

_Static_assert(D_DIR < RING && D_POST < RING && D_CAND < RING, "ring too small");
_Static_assert(BATCH_LOCK <= 65535, "qi is 16 bits");

typedef struct qctx {
    uint64_t qw[4];
    uint32_t qk[SITR_INDEX_CHUNKS];
    int rc[SITR_INDEX_CHUNKS];
    int radius;
    sitr_index_hit_t *out;
    size_t max, found;
    uint64_t probes, cands;
} qctx_t;

/* ---- bit helpers (always inlined so they take the caller's ISA) ---- */

#define INL static inline __attribute__((always_inline))

INL int pop32(uint32_t v)
{
    return __builtin_popcount(v);
}

INL int ham4(const uint64_t *a, const uint64_t *b)
{
    return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) +
           __builtin_popcountll(a[2] ^ b[2]) + __builtin_popcountll(a[3] ^ b[3]);
}

INL uint32_t chunk_key(const uint64_t *w, int c)
{
    unsigned off = chunk_off[c], lo = off & 63u, wi = off >> 6;
    uint64_t v = w[wi] >> lo;
    if (lo + chunk_bits[c] > 64)
        v |= w[wi + 1] << (64 - lo);
    return (uint32_t)(v & ((1u << chunk_bits[c]) - 1u));
}

INL int seg_dead(const seg_t *s, uint32_t e)
{
    return (s->dead[e >> 3] >> (e & 7)) & 1;
}

INL void qctx_emit(qctx_t *x, uint64_t id, int d)
{
    if (x->found < x->max) {
        x->out[x->found].id = id;
        x->out[x->found].distance = d;
    }
    x->found++;
}

static void load_words(const sitr_pdq_t *h, uint64_t w[4])
{
    memcpy(w, h->b, SITR_PDQ_BYTES);
}

/* XOR masks of weight 0..3 over 24 bits in colexicographic order, so that
 * the masks confined to the low k bits are the first C(k, w) of each list.
 * Built once (pthread_once from sitr_index_new), read-only afterwards. */
static uint32_t flip_w0[1], flip_w1[24], flip_w2[276], flip_w3[2024];
static const uint32_t *const flip_masks[4] = {flip_w0, flip_w1, flip_w2, flip_w3};
static pthread_once_t flip_once = PTHREAD_ONCE_INIT;

static void flip_init(void)
{
    size_t n1 = 0, n2 = 0, n3 = 0;
    flip_w0[0] = 0;
    for (int a = 0; a < 24; a++) {
        flip_w1[n1++] = 1u << a;
        for (int b = 0; b < a; b++) {
            flip_w2[n2++] = (1u << a) | (1u << b);
            for (int d = 0; d < b; d++)
                flip_w3[n3++] = (1u << a) | (1u << b) | (1u << d);
        }
    }
}

/* Number of prefixes at exactly w flips from a k-bit prefix: C(k, w). */
INL uint32_t flip_count(int k, int w)
{
    uint32_t u = (uint32_t)k;
    switch (w) {
    case 0:
        return 1;
    case 1:
        return u;
    case 2:
        return u * (u - 1) / 2;
    default:
        return u * (u - 1) * (u - 2) / 6;
    }
}

/* ---- the search core, twice ---- */

#define CORE_NAME   search_core_generic
#define LINEAR_NAME linear_scan_generic
#define CORE_ATTR
#define CORE_AVX512 0
#include "match/index_core.h"
#undef CORE_NAME
#undef LINEAR_NAME
#undef CORE_ATTR
#undef CORE_AVX512

#if defined(__x86_64__) || defined(__i386__)
#define CORE_NAME   search_core_popcnt
#define LINEAR_NAME linear_scan_popcnt
#define CORE_ATTR   __attribute__((target("popcnt")))
#define CORE_AVX512 0
#include "match/index_core.h"
#undef CORE_NAME
#undef LINEAR_NAME
#undef CORE_ATTR
#undef CORE_AVX512

#define CORE_NAME   search_core_avx512
#define LINEAR_NAME linear_scan_avx512
#define CORE_ATTR                                                                                  \
    __attribute__((target("popcnt,avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx512vbmi")))
#define CORE_AVX512 1
#include "match/index_core.h"
#undef CORE_NAME
#undef LINEAR_NAME
#undef CORE_ATTR
#undef CORE_AVX512
#endif

typedef void (*core_fn)(const seg_t *, qctx_t *, size_t);
typedef void (*linear_fn)(const uint64_t *, const uint64_t *, const uint8_t *, size_t, qctx_t *);

/* The best variant this CPU runs: 1 = generic, 2 = popcnt, 3 = AVX-512;
 * chosen_isa may be lowered by sitr_index_set_isa (0 = not chosen yet). */
static _Atomic int chosen_isa = 0;

static int best_isa(void)
{
    int isa = 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt"))
        isa = 2;
    if (isa == 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq") &&
        __builtin_cpu_supports("avx512vbmi"))
        isa = 3;
#endif
    return isa;
}

static int pick_isa(void)
{
    int isa = atomic_load_explicit(&chosen_isa, memory_order_relaxed);
    if (isa)
        return isa;
    isa = best_isa();
    atomic_store_explicit(&chosen_isa, isa, memory_order_relaxed);
    return isa;
}

static const char *const isa_names[4] = {"", "generic", "popcnt", "avx512"};

int sitr_index_set_isa(const char *name)
{
    int best = best_isa();
    for (int i = 1; i <= 3; i++) {
        if ((name == NULL && i == best) || (name && strcmp(name, isa_names[i]) == 0)) {
            if (i > best)
                return SITR_EINVAL;
            atomic_store_explicit(&chosen_isa, i, memory_order_relaxed);
            return 0;
        }
    }
    return SITR_EINVAL;
}

const char *sitr_index_isa(void)
{
    return isa_names[pick_isa()];
}

/* ---- segments ---- */

#define HUGE_MIN   ((size_t)4 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

/* Segment arrays are read at random: large ones go on 2 MiB pages
 * (transparent huge pages on request) so that a probe or a candidate costs
 * a cache miss but not also a TLB miss.  Every array starts on a 64-byte
 * line and is padded with zeros to whole lines, because the AVX-512 search
 * reads postings by aligned line.  Freed with free(). */
static void *big_alloc(size_t bytes, int zero)
{
    size_t align = bytes < HUGE_MIN ? 64 : HUGE_ALIGN;
    size_t rounded = ((bytes ? bytes : 1) + align - 1) & ~(align - 1);
    void *p = NULL;
    if (posix_memalign(&p, align, rounded) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == HUGE_ALIGN)
        (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    if (zero)
        memset(p, 0, rounded);
    else
        memset((char *)p + bytes, 0, rounded - bytes);
    return p;
}

static void seg_free(seg_t *s)
{
    if (!s)
        return;
    free(s->h);
    free(s->ids);
    free(s->dead);
    free(s->sfx0);
    for (int c = 0; c < SITR_INDEX_CHUNKS; c++) {
        free(s->dir[c]);
        free(s->post[c]);
    }
    free(s);
}

static int bits_for(size_t n)
{
    int b = 0;
    while (b < 32 && ((size_t)1 << b) < n)
        b++;
    return b;
}

/* Directory width for chunk c of an n-entry segment: 4 to 8 entries per
 * bucket (fewer would cost directory memory, more would cost scan time), but wide enough that the
 * suffix fits its slot (8 bits for chunk 0, 32 - entry bits for the others). */
static int pick_k(size_t n, int c)
{
    int b = chunk_bits[c];
    int k = (n ? 63 - __builtin_clzll((unsigned long long)n) : 0) - BUCKET_TARGET_LOG2;
    int smax = c == 0 ? 8 : 32 - bits_for(n);
    if (k < b - smax)
        k = b - smax;
    if (k > b)
        k = b;
    if (k < 0)
        k = 0;
    return k;
}

typedef struct build_job {
    seg_t *s;
    _Atomic int next;
} build_job_t;

/* Counting sort of entry numbers by the chunk-c prefix into s->post[c]. */
static int build_chunk(seg_t *s, int c)
{
    int k = s->kbits[c], sb = s->sbits[c];
    size_t nb = (size_t)1 << k;
    uint32_t *dir = big_alloc((nb + 1) * sizeof *dir, 1);
    uint32_t *post = big_alloc(s->n * sizeof *post, 0);
    if (!dir || !post) {
        free(dir);
        free(post);
        return SITR_ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++)
        dir[chunk_key(s->h + 4 * i, c) >> sb]++;
    uint32_t acc = 0;
    for (size_t p = 0; p < nb; p++) {
        acc += dir[p];
        dir[p] = acc; /* end of bucket p; the scatter below walks it back to the start */
    }
    uint32_t sm = (1u << sb) - 1u;
    for (size_t i = s->n; i-- > 0;) {
        uint32_t key = chunk_key(s->h + 4 * i, c);
        post[--dir[key >> sb]] = ((uint32_t)i << sb) | (key & sm);
    }
    dir[nb] = (uint32_t)s->n;
    s->dir[c] = dir;
    s->post[c] = post;
    return 0;
}

static void *build_worker(void *arg)
{
    build_job_t *job = arg;
    intptr_t rc = 0;
    for (;;) {
        int c = atomic_fetch_add(&job->next, 1);
        if (c >= SITR_INDEX_CHUNKS)
            break;
        int r = build_chunk(job->s, c);
        if (r < 0)
            rc = r;
    }
    return (void *)rc;
}

static int cmp_entry(const void *a, const void *b, void *arg)
{
    const sitr_index_entry_t *e = arg;
    const sitr_index_entry_t *x = &e[*(const uint32_t *)a], *y = &e[*(const uint32_t *)b];
    int r = memcmp(x->hash.b, y->hash.b, SITR_PDQ_BYTES);
    if (r)
        return r;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int same_entry(const sitr_index_entry_t *x, const sitr_index_entry_t *y)
{
    return x->id == y->id && memcmp(x->hash.b, y->hash.b, SITR_PDQ_BYTES) == 0;
}

/* Builds a segment from e[0..n) (borrowed), dropping duplicate pairs. */
static int seg_build(const sitr_index_entry_t *e, size_t n, int threads, seg_t **out)
{
    *out = NULL;
    if (n > MAX_ENTRIES)
        return SITR_ETOOBIG;
    seg_t *s = calloc(1, sizeof *s);
    if (!s)
        return SITR_ENOMEM;
    for (int c = 0; c < SITR_INDEX_CHUNKS; c++) {
        s->kbits[c] = (uint8_t)pick_k(n, c);
        s->sbits[c] = (uint8_t)(chunk_bits[c] - s->kbits[c]);
    }
    int k0 = s->kbits[0], sb0 = s->sbits[0];
    size_t nb0 = (size_t)1 << k0;
    size_t cap = n ? n : 1;
    uint32_t *perm = malloc(cap * sizeof *perm);
    uint32_t *d0 = big_alloc((nb0 + 1) * sizeof *d0, 1);
    s->h = big_alloc(cap * 4 * sizeof *s->h, 0);
    s->ids = big_alloc(cap * sizeof *s->ids, 0);
    s->sfx0 = big_alloc(cap, 0);
    if (!perm || !d0 || !s->h || !s->ids || !s->sfx0) {
        free(perm);
        free(d0);
        seg_free(s);
        return SITR_ENOMEM;
    }
    /* Chunk 0: counting sort of the input by prefix, then drop duplicates
     * inside each bucket (equal hashes share a bucket). */
    uint64_t w[4];
    for (size_t i = 0; i < n; i++) {
        load_words(&e[i].hash, w);
        d0[(chunk_key(w, 0) >> sb0) + 1]++;
    }
    for (size_t p = 0; p < nb0; p++)
        d0[p + 1] += d0[p];
    {
        uint32_t *cur = malloc((nb0 ? nb0 : 1) * sizeof *cur);
        if (!cur) {
            free(perm);
            free(d0);
            seg_free(s);
            return SITR_ENOMEM;
        }
        memcpy(cur, d0, nb0 * sizeof *cur);
        for (size_t i = 0; i < n; i++) {
            load_words(&e[i].hash, w);
            perm[cur[chunk_key(w, 0) >> sb0]++] = (uint32_t)i;
        }
        free(cur);
    }
    size_t m = 0;
    for (size_t p = 0; p < nb0; p++) {
        uint32_t lo = d0[p], hi = d0[p + 1];
        d0[p] = (uint32_t)m;
        if (hi - lo > 32)
            qsort_r(perm + lo, hi - lo, sizeof *perm, cmp_entry, (void *)e);
        for (uint32_t i = lo; i < hi; i++) {
            const sitr_index_entry_t *x = &e[perm[i]];
            int dup = 0;
            if (hi - lo > 32) {
                dup = i > lo && same_entry(x, &e[perm[i - 1]]);
            } else {
                for (uint32_t j = lo; j < i && !dup; j++)
                    dup = same_entry(x, &e[perm[j]]);
            }
            if (dup)
                continue;
            load_words(&x->hash, s->h + 4 * m);
            s->ids[m] = x->id;
            s->sfx0[m] = (uint8_t)(chunk_key(s->h + 4 * m, 0) & ((1u << sb0) - 1u));
            m++;
        }
    }
    d0[nb0] = (uint32_t)m;
    free(perm);
    s->n = m;
    s->dir[0] = d0;
    s->dead = calloc((m + 7) / 8 + 1, 1);
    if (!s->dead) {
        seg_free(s);
        return SITR_ENOMEM;
    }

    build_job_t job = {.s = s};
    atomic_init(&job.next, 1);
    int nt = threads > 1 ? threads - 1 : 0;
    if (nt > 8)
        nt = 8;
    pthread_t tids[8];
    int started = 0;
    for (int t = 0; t < nt; t++)
        if (pthread_create(&tids[t], NULL, build_worker, &job) == 0)
            started++;
    intptr_t rc = (intptr_t)build_worker(&job);
    for (int t = 0; t < started; t++) {
        void *r;
        pthread_join(tids[t], &r);
        if ((intptr_t)r < 0)
            rc = (intptr_t)r;
    }
    if (rc < 0) {
        seg_free(s);
        return (int)rc;
    }
    s->bytes = sizeof *s + m * (4 * sizeof(uint64_t) + sizeof(uint64_t) + 1) + (m + 7) / 8 + 1;
    for (int c = 0; c < SITR_INDEX_CHUNKS; c++) {
        s->bytes += (((size_t)1 << s->kbits[c]) + 1) * sizeof(uint32_t);
        if (c > 0)
            s->bytes += m * sizeof(uint32_t);
    }
    *out = s;
    return 0;
}

static size_t live_entries(const sitr_index_t *idx);

/* Position of (w, id) among s's live entries, or -1. */
static long seg_find(const seg_t *s, const uint64_t *w, uint64_t id)
{
    if (!s)
        return -1;
    uint32_t p = chunk_key(w, 0) >> s->sbits[0];
    for (uint32_t i = s->dir[0][p]; i < s->dir[0][p + 1]; i++) {
        const uint64_t *h = s->h + 4 * (size_t)i;
        if (s->ids[i] == id && h[0] == w[0] && h[1] == w[1] && h[2] == w[2] && h[3] == w[3] &&
            !seg_dead(s, i))
            return (long)i;
    }
    return -1;
}

static size_t seg_live(const seg_t *s)
{
    return s ? s->n - s->ndead : 0;
}

/* Live entries of a segment appended to arr (which has room). */
static size_t seg_export(const seg_t *s, sitr_index_entry_t *arr)
{
    size_t m = 0;
    if (!s)
        return 0;
    for (size_t i = 0; i < s->n; i++) {
        if (seg_dead(s, (uint32_t)i))
            continue;
        memcpy(arr[m].hash.b, s->h + 4 * i, SITR_PDQ_BYTES);
        arr[m].id = s->ids[i];
        m++;
    }
    return m;
}

/* ---- public API ---- */

sitr_index_t *sitr_index_new(void)
{
    pthread_once(&flip_once, flip_init);
    sitr_index_t *idx = calloc(1, sizeof *idx);
    if (!idx)
        return NULL;
    pthread_rwlockattr_t at;
    pthread_rwlockattr_init(&at);
    pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    if (pthread_rwlock_init(&idx->lock, &at) != 0) {
        pthread_rwlockattr_destroy(&at);
        free(idx);
        return NULL;
    }
    pthread_rwlockattr_destroy(&at);
    pthread_mutex_init(&idx->wmu, NULL);
    atomic_init(&idx->searches, 0);
    atomic_init(&idx->candidates, 0);
    return idx;
}

void sitr_index_free(sitr_index_t *idx)
{
    if (!idx)
        return;
    for (int k = 0; k < NSLOTS; k++)
        seg_free(idx->seg[k]);
    free(idx->th);
    free(idx->tid);
    pthread_rwlock_destroy(&idx->lock);
    pthread_mutex_destroy(&idx->wmu);
    free(idx);
}

/* Puts s in the main slot and empties the others (attached tags dropped)
 * and the tail, or (all = 0) puts s in the delta slot and empties the
 * tail; frees what it replaced.  Writer mutex held. */
static void swap_in(sitr_index_t *idx, seg_t *s, int all)
{
    seg_t *old[NSLOTS] = {NULL};
    pthread_rwlock_wrlock(&idx->lock);
    for (int k = 0; k < NSLOTS; k++) {
        if (all || k == SLOT_DELTA) {
            old[k] = idx->seg[k];
            idx->seg[k] = NULL;
            idx->tag[k] = 0;
        }
    }
    idx->seg[all ? SLOT_MAIN : SLOT_DELTA] = s;
    idx->tn = 0;
    pthread_rwlock_unlock(&idx->lock);
    for (int k = 0; k < NSLOTS; k++)
        seg_free(old[k]);
}

int sitr_index_bulk_build(sitr_index_t *idx, const sitr_index_entry_t *entries, size_t n,
                          int threads)
{
    seg_t *s;
    pthread_mutex_lock(&idx->wmu);
    int rc = seg_build(entries, n, threads, &s);
    if (rc == 0)
        swap_in(idx, s, 1);
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

/* Position of (w, id) among the live entries of the first segment (slot
 * `skip` aside) that has it, that slot in *slot (optional); -1 when none. */
static long slots_find(const sitr_index_t *idx, const uint64_t *w, uint64_t id, int skip, int *slot)
{
    for (int k = 0; k < NSLOTS; k++) {
        long i = k == skip ? -1 : seg_find(idx->seg[k], w, id);
        if (i >= 0) {
            if (slot)
                *slot = k;
            return i;
        }
    }
    return -1;
}

/* Whether folding `more` entries and the tail into the delta would grow it
 * past 1/16 of the other segments (then everything is rebuilt into the
 * main segment instead, which bounds the cost of delta rebuilds). */
static int fold_all(const sitr_index_t *idx, size_t more)
{
    size_t rest = 0;
    for (int k = 0; k < NSLOTS; k++)
        if (k != SLOT_DELTA)
            rest += seg_live(idx->seg[k]);
    size_t lim = rest / 16;
    return seg_live(idx->seg[SLOT_DELTA]) + idx->tn + more > (lim > DELTA_MIN ? lim : DELTA_MIN);
}

/* Builds one segment from the live entries of the delta and the tail (all:
 * of every segment) and extra[0..nextra) (borrowed), and swaps it in as
 * the main segment (all) or the delta.  Into the delta, an extra pair
 * already in another segment is left out (the build collapses the other
 * duplicates by itself).  Writer mutex held; nothing changes on error. */
static int rebuild(sitr_index_t *idx, int all, const sitr_index_entry_t *extra, size_t nextra,
                   int threads)
{
    size_t total = idx->tn + nextra;
    for (int k = 0; k < NSLOTS; k++)
        if (all || k == SLOT_DELTA)
            total += seg_live(idx->seg[k]);
    if (total > MAX_ENTRIES || total < nextra)
        return SITR_ETOOBIG;
    sitr_index_entry_t *arr = malloc((total ? total : 1) * sizeof *arr);
    if (!arr)
        return SITR_ENOMEM;
    size_t m = 0;
    for (int k = 0; k < NSLOTS; k++)
        if (all || k == SLOT_DELTA)
            m += seg_export(idx->seg[k], arr + m);
    for (size_t i = 0; i < idx->tn; i++, m++) {
        memcpy(arr[m].hash.b, idx->th + 4 * i, SITR_PDQ_BYTES);
        arr[m].id = idx->tid[i];
    }
    for (size_t i = 0; i < nextra; i++) {
        uint64_t w[4];
        load_words(&extra[i].hash, w);
        if (!all && slots_find(idx, w, extra[i].id, SLOT_DELTA, NULL) >= 0)
            continue;
        arr[m++] = extra[i];
    }
    seg_t *s;
    int rc = seg_build(arr, m, threads, &s);
    free(arr);
    if (rc < 0)
        return rc;
    swap_in(idx, s, all);
    return 0;
}

static long tail_find(const sitr_index_t *idx, const uint64_t *w, uint64_t id)
{
    for (size_t i = 0; i < idx->tn; i++) {
        const uint64_t *h = idx->th + 4 * i;
        if (idx->tid[i] == id && h[0] == w[0] && h[1] == w[1] && h[2] == w[2] && h[3] == w[3])
            return (long)i;
    }
    return -1;
}

int sitr_index_insert(sitr_index_t *idx, const sitr_pdq_t *hash, uint64_t id)
{
    uint64_t w[4];
    load_words(hash, w);
    int rc = 1;
    pthread_mutex_lock(&idx->wmu);
    if (slots_find(idx, w, id, -1, NULL) >= 0 || tail_find(idx, w, id) >= 0) {
        rc = 0;
        goto out;
    }
    if (live_entries(idx) >= MAX_ENTRIES) {
        rc = SITR_ETOOBIG;
        goto out;
    }
    if (idx->tn == idx->tcap) {
        /* Grown once to its final size: the tail never exceeds TAIL_MAX. */
        uint64_t *th = malloc(TAIL_MAX * 4 * sizeof *th);
        uint64_t *tid = malloc(TAIL_MAX * sizeof *tid);
        if (!th || !tid) {
            free(th);
            free(tid);
            rc = SITR_ENOMEM;
            goto out;
        }
        pthread_rwlock_wrlock(&idx->lock);
        free(idx->th);
        free(idx->tid);
        idx->th = th;
        idx->tid = tid;
        idx->tcap = TAIL_MAX;
        pthread_rwlock_unlock(&idx->lock);
    }
    pthread_rwlock_wrlock(&idx->lock);
    memcpy(idx->th + 4 * idx->tn, w, sizeof w);
    idx->tid[idx->tn] = id;
    idx->tn++;
    pthread_rwlock_unlock(&idx->lock);
    if (idx->tn == TAIL_MAX) {
        int all = fold_all(idx, 0);
        int r = rebuild(idx, all, NULL, 0, all ? 2 : 1);
        if (r < 0) {
            /* The entry is stored; only the tail could not be folded.  Undo
             * so that the caller sees a consistent failure. */
            pthread_rwlock_wrlock(&idx->lock);
            idx->tn--;
            pthread_rwlock_unlock(&idx->lock);
            rc = r;
        }
    }
out:
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

static void seg_kill(seg_t *s, size_t i)
{
    s->dead[i >> 3] |= (uint8_t)(1u << (i & 7));
    s->ndead++;
}

int sitr_index_remove(sitr_index_t *idx, const sitr_pdq_t *hash, uint64_t id)
{
    uint64_t w[4];
    load_words(hash, w);
    int rc = 0, k;
    pthread_mutex_lock(&idx->wmu);
    long i = slots_find(idx, w, id, -1, &k);
    if (i >= 0) {
        pthread_rwlock_wrlock(&idx->lock);
        seg_kill(idx->seg[k], (size_t)i);
        pthread_rwlock_unlock(&idx->lock);
        rc = 1;
    } else if ((i = tail_find(idx, w, id)) >= 0) {
        pthread_rwlock_wrlock(&idx->lock);
        size_t last = idx->tn - 1;
        memcpy(idx->th + 4 * i, idx->th + 4 * last, 4 * sizeof *idx->th);
        idx->tid[i] = idx->tid[last];
        idx->tn--;
        pthread_rwlock_unlock(&idx->lock);
        rc = 1;
    }
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

/* Removes every entry for which drop(id, arg) is nonzero (remove_ids and
 * remove_if).  Positions are collected without the write lock (only
 * writers change tombstones, and we hold the writer mutex), then killed in
 * one go. */
static inline size_t remove_matching(sitr_index_t *idx, int (*drop)(uint64_t id, void *arg),
                                     void *arg)
{
    size_t removed = 0;
    pthread_mutex_lock(&idx->wmu);
    for (int k = 0; k < NSLOTS; k++) {
        seg_t *s = idx->seg[k];
        if (!s)
            continue;
        size_t cnt = 0, cap = 0;
        uint32_t *hits = NULL;
        for (size_t i = 0; i < s->n; i++) {
            if (!drop(s->ids[i], arg) || seg_dead(s, (uint32_t)i))
                continue;
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 64;
                uint32_t *nh = realloc(hits, nc * sizeof *nh);
                if (!nh) {
                    /* Fall back to killing entries one by one under the lock. */
                    pthread_rwlock_wrlock(&idx->lock);
                    seg_kill(s, i);
                    pthread_rwlock_unlock(&idx->lock);
                    removed++;
                    continue;
                }
                hits = nh;
                cap = nc;
            }
            hits[cnt++] = (uint32_t)i;
        }
        if (cnt) {
            pthread_rwlock_wrlock(&idx->lock);
            for (size_t j = 0; j < cnt; j++)
                seg_kill(s, hits[j]);
            pthread_rwlock_unlock(&idx->lock);
            removed += cnt;
        }
        free(hits);
    }
    pthread_rwlock_wrlock(&idx->lock);
    for (size_t i = 0; i < idx->tn;) {
        if (drop(idx->tid[i], arg)) {
            size_t last = idx->tn - 1;
            memcpy(idx->th + 4 * i, idx->th + 4 * last, 4 * sizeof *idx->th);
            idx->tid[i] = idx->tid[last];
            idx->tn--;
            removed++;
        } else {
            i++;
        }
    }
    pthread_rwlock_unlock(&idx->lock);
    pthread_mutex_unlock(&idx->wmu);
    return removed;
}

typedef struct mask_match {
    uint64_t want, mask;
} mask_match_t;

static int drop_masked(uint64_t id, void *arg)
{
    const mask_match_t *m = arg;
    return (id & m->mask) == m->want;
}

size_t sitr_index_remove_ids(sitr_index_t *idx, uint64_t value, uint64_t mask)
{
    mask_match_t m = {value & mask, mask};
    return remove_matching(idx, drop_masked, &m);
}

size_t sitr_index_remove_if(sitr_index_t *idx, int (*drop)(uint64_t id, void *arg), void *arg)
{
    return remove_matching(idx, drop, arg);
}

int sitr_index_insert_bulk(sitr_index_t *idx, const sitr_index_entry_t *entries, size_t n,
                           int threads)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&idx->wmu);
    /* Small next to the other segments: into the delta (as the tail's
     * folds do); otherwise everything is rebuilt once. */
    int rc = rebuild(idx, fold_all(idx, n), entries, n, threads);
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

int sitr_index_compact(sitr_index_t *idx)
{
    pthread_mutex_lock(&idx->wmu);
    int rc = rebuild(idx, 1, NULL, 0, 2);
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

/* ---- standalone segments ---- */

int sitr_index_segment_build(const sitr_index_entry_t *entries, size_t n, int threads,
                             sitr_index_segment_t **out)
{
    return seg_build(entries, n, threads, out);
}

void sitr_index_segment_free(sitr_index_segment_t *s)
{
    seg_free(s);
}

size_t sitr_index_segment_size(const sitr_index_segment_t *s)
{
    return s->n;
}

int sitr_index_attach(sitr_index_t *idx, sitr_index_segment_t *seg, uint64_t tag)
{
    if (!seg || tag == 0 || seg->attached)
        return SITR_EINVAL;
    int rc = 0, slot = -1;
    pthread_mutex_lock(&idx->wmu);
    for (int k = SLOT_ATT; k < NSLOTS; k++) {
        if (idx->seg[k] && idx->tag[k] == tag)
            rc = SITR_EINVAL;
        else if (!idx->seg[k] && slot < 0)
            slot = k;
    }
    if (rc == 0 && live_entries(idx) + seg_live(seg) > MAX_ENTRIES)
        rc = SITR_ETOOBIG;
    if (rc == 0 && slot < 0) {
        /* Every slot taken: merge them all into the main segment first. */
        rc = rebuild(idx, 1, NULL, 0, 2);
        slot = SLOT_ATT;
    }
    if (rc == 0) {
        pthread_rwlock_wrlock(&idx->lock);
        idx->seg[slot] = seg;
        idx->tag[slot] = tag;
        seg->attached = 1;
        pthread_rwlock_unlock(&idx->lock);
    }
    pthread_mutex_unlock(&idx->wmu);
    return rc;
}

size_t sitr_index_detach(sitr_index_t *idx, uint64_t tag)
{
    seg_t *s = NULL;
    pthread_mutex_lock(&idx->wmu);
    for (int k = SLOT_ATT; k < NSLOTS && tag; k++) {
        if (idx->seg[k] && idx->tag[k] == tag) {
            pthread_rwlock_wrlock(&idx->lock);
            s = idx->seg[k];
            idx->seg[k] = NULL;
            idx->tag[k] = 0;
            pthread_rwlock_unlock(&idx->lock);
            break;
        }
    }
    pthread_mutex_unlock(&idx->wmu);
    size_t n = seg_live(s);
    seg_free(s);
    return n;
}

/* Per-chunk radii for radius r: r + 1 units, widest chunks first. */
static void plan_radii(int r, int rc[SITR_INDEX_CHUNKS])
{
    int units = r + 1, base = units / SITR_INDEX_CHUNKS, extra = units % SITR_INDEX_CHUNKS;
    for (int c = 0; c < SITR_INDEX_CHUNKS; c++)
        rc[c] = base - 1 + (c < extra ? 1 : 0);
}

static void qctx_init(qctx_t *x, const sitr_pdq_t *q, int radius, sitr_index_hit_t *out, size_t max)
{
    memset(x, 0, sizeof *x);
    load_words(q, x->qw);
    x->radius = radius;
    x->out = out;
    x->max = out ? max : 0;
    for (int c = 0; c < SITR_INDEX_CHUNKS; c++)
        x->qk[c] = chunk_key(x->qw, c);
    plan_radii(radius, x->rc);
}

/* Runs xs[0..nq) (one radius) over every segment and the tail; read lock
 * held by the caller. */
static void search_locked(const sitr_index_t *idx, qctx_t *xs, size_t nq)
{
    core_fn core = search_core_generic;
    linear_fn linear_scan = linear_scan_generic;
#if defined(__x86_64__) || defined(__i386__)
    int isa = pick_isa();
    if (isa == 2) {
        core = search_core_popcnt;
        linear_scan = linear_scan_popcnt;
    } else if (isa == 3) {
        core = search_core_avx512;
        linear_scan = linear_scan_avx512;
    }
#endif
    for (int k = 0; k < NSLOTS; k++) {
        const seg_t *s = idx->seg[k];
        if (!s || s->n == 0)
            continue;
        if (xs[0].radius > MIH_MAX_RADIUS) {
            for (size_t i = 0; i < nq; i++)
                linear_scan(s->h, s->ids, s->dead, s->n, &xs[i]);
        } else {
            core(s, xs, nq);
        }
    }
    if (idx->tn)
        for (size_t i = 0; i < nq; i++)
            linear_scan(idx->th, idx->tid, NULL, idx->tn, &xs[i]);
}

int sitr_index_search(sitr_index_t *idx, const sitr_pdq_t *q, int radius, sitr_index_hit_t *out,
                      size_t max, size_t *found, sitr_index_qstats_t *qs)
{
    if (radius < 0 || radius > 8 * SITR_PDQ_BYTES)
        return SITR_EINVAL;
    qctx_t x;
    qctx_init(&x, q, radius, out, max);
    pthread_rwlock_rdlock(&idx->lock);
    search_locked(idx, &x, 1);
    pthread_rwlock_unlock(&idx->lock);

    atomic_fetch_add_explicit(&idx->searches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&idx->candidates, x.cands, memory_order_relaxed);
    if (found)
        *found = x.found;
    if (qs) {
        qs->probes = x.probes;
        qs->candidates = x.cands;
    }
    return 0;
}

int sitr_index_search_batch(sitr_index_t *idx, const sitr_pdq_t *q, size_t nq, int radius,
                            sitr_index_hit_t *out, size_t max, size_t *found,
                            sitr_index_qstats_t *qs)
{
    if (radius < 0 || radius > 8 * SITR_PDQ_BYTES || (nq && (!q || !found)))
        return SITR_EINVAL;
    if (out && nq && max > SIZE_MAX / nq)
        return SITR_EINVAL;
    qctx_t xs[BATCH_LOCK];
    uint64_t cands = 0;
    for (size_t b = 0; b < nq; b += BATCH_LOCK) {
        size_t m = nq - b < BATCH_LOCK ? nq - b : BATCH_LOCK;
        for (size_t i = 0; i < m; i++)
            qctx_init(&xs[i], &q[b + i], radius, out ? out + (b + i) * max : NULL, max);
        pthread_rwlock_rdlock(&idx->lock);
        search_locked(idx, xs, m);
        pthread_rwlock_unlock(&idx->lock);
        for (size_t i = 0; i < m; i++) {
            found[b + i] = xs[i].found;
            cands += xs[i].cands;
            if (qs) {
                qs[b + i].probes = xs[i].probes;
                qs[b + i].candidates = xs[i].cands;
            }
        }
    }
    atomic_fetch_add_explicit(&idx->searches, nq, memory_order_relaxed);
    atomic_fetch_add_explicit(&idx->candidates, cands, memory_order_relaxed);
    return 0;
}

static size_t live_entries(const sitr_index_t *idx)
{
    size_t n = idx->tn;
    for (int k = 0; k < NSLOTS; k++)
        n += seg_live(idx->seg[k]);
    return n;
}

size_t sitr_index_size(sitr_index_t *idx)
{
    pthread_rwlock_rdlock(&idx->lock);
    size_t n = live_entries(idx);
    pthread_rwlock_unlock(&idx->lock);
    return n;
}

void sitr_index_stats(sitr_index_t *idx, sitr_index_stats_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&idx->lock);
    out->entries = live_entries(idx);
    out->bytes = sizeof *idx + idx->tcap * 5 * sizeof(uint64_t);
    for (int k = 0; k < NSLOTS; k++) {
        const seg_t *s = idx->seg[k];
        if (!s)
            continue;
        out->bytes += s->bytes;
        out->tombstones += s->ndead;
        if (k == SLOT_MAIN) {
            out->main_entries = s->n;
        } else if (k == SLOT_DELTA) {
            out->delta_entries = s->n;
        } else {
            out->attached_segments++;
            out->attached_entries += s->n;
        }
    }
    out->tail_entries = idx->tn;
    pthread_rwlock_unlock(&idx->lock);
    out->searches = atomic_load_explicit(&idx->searches, memory_order_relaxed);
    out->candidates = atomic_load_explicit(&idx->candidates, memory_order_relaxed);
}

size_t sitr_index_brute(const sitr_index_entry_t *entries, size_t n, const sitr_pdq_t *q,
                        int radius, sitr_index_hit_t *out, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a[4], b[4];
        load_words(&entries[i].hash, a);
        load_words(q, b);
        int d = ham4(a, b);
        if (d <= radius) {
            if (found < max) {
                out[found].id = entries[i].id;
                out[found].distance = d;
            }
            found++;
        }
    }
    return found;
}
