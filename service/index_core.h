/* The multi-index search loop over one segment, included twice by index.c:
 * once compiled for the baseline ISA and once with the POPCNT instruction,
 * chosen at run time (CORE_NAME / CORE_ATTR are defined by the includer).
 *
 * Three stages over fixed-size blocks so that many independent memory reads
 * are in flight at once: (1) enumerate the bucket prefixes of every probed
 * chunk and prefetch their directory slots; (2) read the [lo, hi) bucket
 * bounds and prefetch the postings; (3) filter postings by the suffix
 * distance and queue the survivors as candidates, prefetching their hashes;
 * (4) verify candidates with the full 256-bit distance. */

static void CORE_NAME(const seg_t *s, qctx_t *x) CORE_ATTR;
static void LINEAR_NAME(const uint64_t *h, const uint64_t *ids, const uint8_t *dead, size_t n,
                        qctx_t *x) CORE_ATTR;

/* Linear scan: the unsorted tail, and radii too large for MIH. */
static void LINEAR_NAME(const uint64_t *h, const uint64_t *ids, const uint8_t *dead, size_t n,
                        qctx_t *x)
{
    for (size_t i = 0; i < n; i++) {
        int d = ham4(h + 4 * i, x->qw);
        if (d <= x->radius && !(dead && ((dead[i >> 3] >> (i & 7)) & 1)))
            qctx_emit(x, ids[i], d);
    }
    x->cands += n;
}

static void CORE_NAME(const seg_t *s, qctx_t *x)
{
    probe_t pb[PROBE_BLOCK];
    uint32_t cand[CAND_BLOCK];
    uint8_t candc[CAND_BLOCK];
    int np = 0, nc = 0;

/* Verifies the queued candidates: full distance, tombstone, then the
 * first-chunk rule so that an entry found through several chunks is
 * reported once (by the lowest-numbered chunk whose probe reaches it). */
#define FLUSH_CANDS()                                                                              \
    do {                                                                                           \
        for (int ci = 0; ci < nc; ci++) {                                                          \
            uint32_t e = cand[ci];                                                                 \
            const uint64_t *h = s->h + 4 * (size_t)e;                                              \
            int hd = ham4(h, x->qw);                                                               \
            if (hd > x->radius || seg_dead(s, e))                                                  \
                continue;                                                                          \
            int dup = 0;                                                                           \
            for (int j = 0; j < candc[ci]; j++) {                                                  \
                if (x->rc[j] >= 0 && pop32(chunk_key(h, j) ^ x->qk[j]) <= x->rc[j]) {             \
                    dup = 1;                                                                       \
                    break;                                                                         \
                }                                                                                  \
            }                                                                                      \
            if (!dup)                                                                              \
                qctx_emit(x, s->ids[e], hd);                                                       \
        }                                                                                          \
        x->cands += (uint64_t)nc;                                                                  \
        nc = 0;                                                                                    \
    } while (0)

#define PUSH_CAND(e_, c_)                                                                          \
    do {                                                                                           \
        uint32_t e__ = (e_);                                                                       \
        __builtin_prefetch(s->h + 4 * (size_t)e__);                                                \
        cand[nc] = e__;                                                                            \
        candc[nc] = (uint8_t)(c_);                                                                 \
        if (++nc == CAND_BLOCK)                                                                    \
            FLUSH_CANDS();                                                                         \
    } while (0)

#define FLUSH_PROBES()                                                                             \
    do {                                                                                           \
        for (int pi = 0; pi < np; pi++) {                                                          \
            probe_t *pr = &pb[pi];                                                                 \
            const uint32_t *dir = s->dir[pr->c];                                                   \
            pr->lo = dir[pr->p];                                                                   \
            pr->hi = dir[pr->p + 1];                                                               \
            if (pr->c == 0)                                                                        \
                __builtin_prefetch(s->sfx0 + pr->lo);                                              \
            else                                                                                   \
                __builtin_prefetch(s->post[pr->c] + pr->lo);                                       \
        }                                                                                          \
        for (int pi = 0; pi < np; pi++) {                                                          \
            const probe_t *pr = &pb[pi];                                                           \
            uint32_t pqs = pr->qs;                                                                 \
            int allow = pr->allow;                                                                 \
            if (pr->c == 0) {                                                                      \
                for (uint32_t i = pr->lo; i < pr->hi; i++)                                         \
                    if (pop32((uint32_t)s->sfx0[i] ^ pqs) <= allow)                                \
                        PUSH_CAND(i, 0);                                                           \
            } else {                                                                               \
                const uint32_t *post = s->post[pr->c];                                             \
                int psb = s->sbits[pr->c];                                                         \
                uint32_t sm = (1u << psb) - 1u;                                                    \
                for (uint32_t i = pr->lo; i < pr->hi; i++) {                                       \
                    uint32_t v = post[i];                                                          \
                    if (pop32((v & sm) ^ pqs) <= allow)                                            \
                        PUSH_CAND(v >> psb, pr->c);                                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        x->probes += (uint64_t)np;                                                                 \
        np = 0;                                                                                    \
    } while (0)

#define ADD_PROBE(c_, p_, qs_, allow_)                                                             \
    do {                                                                                           \
        uint32_t p__ = (p_);                                                                       \
        __builtin_prefetch(s->dir[c_] + p__);                                                      \
        pb[np].c = (uint8_t)(c_);                                                                  \
        pb[np].p = p__;                                                                            \
        pb[np].qs = (qs_);                                                                         \
        pb[np].allow = (uint8_t)(allow_);                                                          \
        if (++np == PROBE_BLOCK)                                                                   \
            FLUSH_PROBES();                                                                        \
    } while (0)

    for (int c = 0; c < SITR_INDEX_CHUNKS; c++) {
        int r = x->rc[c];
        if (r < 0)
            continue;
        int k = s->kbits[c], sb = s->sbits[c];
        uint32_t key = x->qk[c];
        uint32_t p0 = key >> sb;
        uint32_t qs = key & ((1u << sb) - 1u);
        /* Every prefix within r flips of the query's prefix; the suffix may
         * then differ in at most r - flips bits (checked per posting). */
        ADD_PROBE(c, p0, qs, r);
        if (r >= 1) {
            for (int a = 0; a < k; a++) {
                uint32_t pa = p0 ^ (1u << a);
                ADD_PROBE(c, pa, qs, r - 1);
                if (r >= 2) {
                    for (int b = 0; b < a; b++) {
                        uint32_t pab = pa ^ (1u << b);
                        ADD_PROBE(c, pab, qs, r - 2);
                        if (r >= 3)
                            for (int d = 0; d < b; d++)
                                ADD_PROBE(c, pab ^ (1u << d), qs, r - 3);
                    }
                }
            }
        }
    }
    FLUSH_PROBES();
    FLUSH_CANDS();

#undef ADD_PROBE
#undef FLUSH_PROBES
#undef PUSH_CAND
#undef FLUSH_CANDS
}
