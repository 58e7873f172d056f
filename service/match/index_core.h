/* The multi-index search loop over one segment, included three times by
 * index.c: for the baseline ISA, with POPCNT, and with AVX-512 (VPOPCNTDQ,
 * BW, VL, VBMI), chosen at run time.  The includer defines CORE_NAME,
 * LINEAR_NAME, CORE_ATTR and CORE_AVX512 (0 or 1).
 *
 * A search is bound by dependent random memory reads (directory slot ->
 * postings -> candidate hash) and, once those are overlapped, by branch
 * mispredictions on the short, variable-length bucket scans.  So the loop is
 * a software pipeline over the probes of a whole batch of queries:
 *   1. enumerate the probed bucket prefixes (a table of XOR masks ordered by
 *      weight); prefetch their directory slots;
 *   2. D_DIR probes later: read the [lo, hi) bucket bounds, prefetch the
 *      first and last postings line;
 *   3. D_POST probes later: filter the bucket by the suffix distance and
 *      append the survivors to a candidate buffer (AVX-512: 16 postings per
 *      step, no data-dependent branch); prefetch the hashes of up to three
 *      queued candidates per probe (branch-free);
 *   4. when the buffer is nearly full: verify all but the newest D_CAND
 *      candidates with the full 256-bit distance.
 * The rings only reorder work; results do not depend on the distances. */

static void CORE_NAME(const seg_t *s, qctx_t *xs, size_t nq) CORE_ATTR;
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

static void CORE_NAME(const seg_t *s, qctx_t *xs, size_t nq)
{
    pstage_t pr[RING];
    bstage_t br[RING];
    /* Candidates: entry and (chunk << 16 | query); 16 spare slots because
     * a vector step stores 16 lanes before counting the kept ones. */
    uint32_t ce[CBUF + 16], cm[CBUF + 16];
    unsigned ph = 0, pt = 0, bh = 0, bt = 0, ct = 0, pf = 0;
    const uint64_t *hbase = s->h;

/* Stage 4 over ce[0..nv): full distance, tombstone, then the first-chunk
 * rule so that an entry found through several chunks is reported once (by
 * the lowest-numbered chunk whose probe reaches it); then the unverified
 * rest moves to the front. */
#define VERIFY(keep_)                                                                              \
    do {                                                                                           \
        unsigned nv = ct > (keep_) ? ct - (keep_) : 0;                                             \
        for (unsigned vi = 0; vi < nv; vi++) {                                                     \
            uint32_t e = ce[vi];                                                                   \
            qctx_t *xv = &xs[cm[vi] & 0xffffu];                                                    \
            int cc = (int)(cm[vi] >> 16);                                                          \
            const uint64_t *h = hbase + 4 * (size_t)e;                                             \
            int hd = ham4(h, xv->qw);                                                              \
            xv->cands++;                                                                           \
            if (hd <= xv->radius && !seg_dead(s, e)) {                                             \
                int dup = 0;                                                                       \
                for (int j = 0; j < cc; j++) {                                                     \
                    if (xv->rc[j] >= 0 && pop32(chunk_key(h, j) ^ xv->qk[j]) <= xv->rc[j]) {       \
                        dup = 1;                                                                   \
                        break;                                                                     \
                    }                                                                              \
                }                                                                                  \
                if (!dup)                                                                          \
                    qctx_emit(xv, s->ids[e], hd);                                                  \
            }                                                                                      \
        }                                                                                          \
        if (nv) {                                                                                  \
            memmove(ce, ce + nv, (ct - nv) * sizeof *ce);                                          \
            memmove(cm, cm + nv, (ct - nv) * sizeof *cm);                                          \
            ct -= nv;                                                                              \
            pf = pf > nv ? pf - nv : 0;                                                            \
        }                                                                                          \
    } while (0)

/* Prefetches the hash of the next queued candidate, or (when none is
 * queued) of entry 0: a select, not a branch.  Candidate hashes and
 * directory slots are prefetched with the low-locality hint (PREFETCHT2 on
 * x86): measured 5-10% faster at 10M entries than into L1, while the
 * non-temporal hint is a third slower. */
#define PF_CAND()                                                                                  \
    do {                                                                                           \
        unsigned has = pf < ct;                                                                    \
        uint32_t pe = has ? ce[pf] : 0;                                                            \
        __builtin_prefetch(hbase + 4 * (size_t)pe, 0, 1);                                          \
        pf += has;                                                                                 \
    } while (0)

#if CORE_AVX512
    const __m512i iota32 = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m128i iota8 = _mm_set_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
/* 16 postings per step: the aligned line holding the first one, and the
 * next line only when the step runs into it, merged by a permute (an
 * unaligned or masked 64-byte load would touch the next line every time:
 * a third more memory traffic); then the suffix distance, and the kept
 * entry numbers compressed to the front of a register.  The postings
 * arrays are 64-byte aligned and padded to whole lines. */
#define SCAN_BUCKET(c_, lo_, n_, qs_, allow_, meta_)                                               \
    do {                                                                                           \
        __m512i qsv = _mm512_set1_epi32((int)(qs_)), alv = _mm512_set1_epi32(allow_);              \
        __m512i mv = _mm512_set1_epi32((int)(meta_));                                              \
        if ((c_) == 0) {                                                                           \
            const uint8_t *sp = s->sfx0 + (lo_);                                                   \
            __m512i iota = _mm512_add_epi32(iota32, _mm512_set1_epi32((int)(lo_)));                \
            for (uint32_t i = 0; i < (n_); i += 16) {                                              \
                uint32_t left = (n_)-i;                                                            \
                __mmask16 lm = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);              \
                const uint8_t *ab = (const uint8_t *)((uintptr_t)(sp + i) & ~(uintptr_t)15);       \
                unsigned off = (unsigned)((sp + i) - ab);                                          \
                __m128i A = _mm_load_si128((const __m128i *)ab), B = _mm_setzero_si128();          \
                if (off + left > 16)                                                               \
                    B = _mm_load_si128((const __m128i *)(ab + 16));                                \
                __m128i bx = _mm_add_epi8(iota8, _mm_set1_epi8((char)off));                        \
                __m512i v = _mm512_maskz_cvtepu8_epi32(lm, _mm_permutex2var_epi8(A, bx, B));       \
                __m512i d = _mm512_popcnt_epi32(_mm512_xor_si512(v, qsv));                         \
                __mmask16 m = _mm512_mask_cmple_epu32_mask(lm, d, alv);                            \
                _mm512_storeu_si512(ce + ct, _mm512_maskz_compress_epi32(m, iota));                \
                _mm512_storeu_si512(cm + ct, mv);                                                  \
                ct += (unsigned)__builtin_popcount(m);                                             \
                iota = _mm512_add_epi32(iota, _mm512_set1_epi32(16));                              \
                if (ct > CBUF - 16)                                                                \
                    VERIFY(D_CAND);                                                                \
            }                                                                                      \
        } else {                                                                                   \
            const uint32_t *pp = s->post[c_] + (lo_);                                              \
            int psb = s->sbits[c_];                                                                \
            __m512i smv = _mm512_set1_epi32((int)((1u << psb) - 1u));                              \
            __m128i shv = _mm_cvtsi32_si128(psb);                                                  \
            for (uint32_t i = 0; i < (n_); i += 16) {                                              \
                uint32_t left = (n_)-i;                                                            \
                __mmask16 lm = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);              \
                const uint32_t *ap = (const uint32_t *)((uintptr_t)(pp + i) & ~(uintptr_t)63);     \
                unsigned off = (unsigned)((pp + i) - ap);                                          \
                __m512i A = _mm512_load_si512((const void *)ap), B = _mm512_setzero_si512();       \
                if (off + left > 16)                                                               \
                    B = _mm512_load_si512((const void *)(ap + 16));                                \
                __m512i ix = _mm512_add_epi32(iota32, _mm512_set1_epi32((int)off));                \
                __m512i v = _mm512_maskz_permutex2var_epi32(lm, A, ix, B);                         \
                __m512i d = _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_and_si512(v, smv), qsv));  \
                __mmask16 m = _mm512_mask_cmple_epu32_mask(lm, d, alv);                            \
                _mm512_storeu_si512(ce + ct,                                                       \
                                    _mm512_maskz_compress_epi32(m, _mm512_srl_epi32(v, shv)));     \
                _mm512_storeu_si512(cm + ct, mv);                                                  \
                ct += (unsigned)__builtin_popcount(m);                                             \
                if (ct > CBUF - 16)                                                                \
                    VERIFY(D_CAND);                                                                \
            }                                                                                      \
        }                                                                                          \
    } while (0)
#else
#define SCAN_BUCKET(c_, lo_, n_, qs_, allow_, meta_)                                               \
    do {                                                                                           \
        uint32_t end = (lo_) + (n_);                                                               \
        if ((c_) == 0) {                                                                           \
            const uint8_t *sf = s->sfx0;                                                           \
            for (uint32_t i = (lo_); i < end; i++) {                                               \
                if (pop32((uint32_t)sf[i] ^ (qs_)) <= (allow_)) {                                  \
                    ce[ct] = i;                                                                    \
                    cm[ct++] = (meta_);                                                            \
                    if (ct > CBUF - 16)                                                            \
                        VERIFY(D_CAND);                                                            \
                }                                                                                  \
            }                                                                                      \
        } else {                                                                                   \
            const uint32_t *post = s->post[c_];                                                    \
            int psb = s->sbits[c_];                                                                \
            uint32_t sm = (1u << psb) - 1u;                                                        \
            for (uint32_t i = (lo_); i < end; i++) {                                               \
                uint32_t v = post[i];                                                              \
                if (pop32((v & sm) ^ (qs_)) <= (allow_)) {                                         \
                    ce[ct] = v >> psb;                                                             \
                    cm[ct++] = (meta_);                                                            \
                    if (ct > CBUF - 16)                                                            \
                        VERIFY(D_CAND);                                                            \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)
#endif

/* Stage 3. */
#define SCAN_ONE()                                                                                 \
    do {                                                                                           \
        const bstage_t *bs = &br[bh++ & (RING - 1)];                                               \
        SCAN_BUCKET(bs->c, bs->lo, bs->hi - bs->lo, bs->qs, (int)bs->allow,                        \
                    ((uint32_t)bs->c << 16) | bs->qi);                                             \
        PF_CAND();                                                                                 \
        PF_CAND();                                                                                 \
        PF_CAND();                                                                                 \
    } while (0)

/* Stage 2: read the bucket bounds, prefetch the postings' first and last
 * lines (a bucket of a few entries spans at most two). */
#define DIR_ONE()                                                                                  \
    do {                                                                                           \
        const pstage_t *ps = &pr[ph++ & (RING - 1)];                                               \
        const uint32_t *dir = s->dir[ps->c];                                                       \
        bstage_t *bw = &br[bt++ & (RING - 1)];                                                     \
        uint32_t dlo = dir[ps->p], dhi = dir[ps->p + 1];                                           \
        uint32_t dlast = dhi > dlo ? dhi - 1 : dlo;                                                \
        bw->lo = dlo;                                                                              \
        bw->hi = dhi;                                                                              \
        bw->qs = ps->qs;                                                                           \
        bw->c = ps->c;                                                                             \
        bw->allow = ps->allow;                                                                     \
        bw->qi = ps->qi;                                                                           \
        if (ps->c == 0) {                                                                          \
            __builtin_prefetch(s->sfx0 + dlo);                                                     \
            __builtin_prefetch(s->sfx0 + dlast);                                                   \
        } else {                                                                                   \
            __builtin_prefetch(s->post[ps->c] + dlo);                                              \
            __builtin_prefetch(s->post[ps->c] + dlast);                                            \
        }                                                                                          \
        xs[ps->qi].probes++;                                                                       \
        if (bt - bh > D_POST)                                                                      \
            SCAN_ONE();                                                                            \
    } while (0)

    for (size_t qi = 0; qi < nq; qi++) {
        const qctx_t *x = &xs[qi];
        for (int c = 0; c < SITR_INDEX_CHUNKS; c++) {
            int r = x->rc[c];
            if (r < 0)
                continue;
            int k = s->kbits[c], sb = s->sbits[c];
            uint32_t key = x->qk[c];
            uint32_t p0 = key >> sb;
            uint32_t qs = key & ((1u << sb) - 1u);
            const uint32_t *cdir = s->dir[c];
            /* Every prefix within r flips of the query's prefix (w flips:
             * the first C(k, w) masks of weight w); the suffix may then
             * differ in at most r - w bits (checked per posting). */
            for (int w = 0; w <= r; w++) {
                const uint32_t *mk = flip_masks[w];
                uint32_t cnt = flip_count(k, w);
                for (uint32_t mi = 0; mi < cnt; mi++) {
                    pstage_t *pw = &pr[pt++ & (RING - 1)];
                    pw->p = p0 ^ mk[mi];
                    pw->qs = qs;
                    pw->c = (uint8_t)c;
                    pw->allow = (uint8_t)(r - w);
                    pw->qi = (uint16_t)qi;
                    __builtin_prefetch(cdir + pw->p, 0, 1);
                    __builtin_prefetch(cdir + pw->p + 1, 0, 1);
                    if (pt - ph > D_DIR)
                        DIR_ONE();
                }
            }
        }
    }
    /* Drain in stage order. */
    while (ph != pt)
        DIR_ONE();
    while (bh != bt)
        SCAN_ONE();
    VERIFY(0);

#undef DIR_ONE
#undef SCAN_ONE
#undef SCAN_BUCKET
#undef PF_CAND
#undef VERIFY
}
