/* Unit tests of the exact PDQ index and the digest tables: every search is
 * compared with a brute-force scan over a model array holding the same
 * live entries (uniform and clustered data, planted boundary distances,
 * deletes, re-inserts, duplicates, the linear-scan radii, concurrency),
 * also with segments and digest tables built apart and attached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "match/digest_index.h"
#include "match/index.h"
#include "pdq_synth.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* The live entries, kept beside the index. */
typedef struct model {
    sitr_index_entry_t *e;
    size_t n, cap;
} model_t;

static void model_add(model_t *m, const sitr_pdq_t *h, uint64_t id)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        assert_non_null(m->e);
    }
    m->e[m->n].hash = *h;
    m->e[m->n].id = id;
    m->n++;
}

/* Adds n uniformly random hashes, ids from *id on. */
static void model_add_random(model_t *m, int n, uint64_t *id)
{
    sitr_pdq_t h;
    for (int i = 0; i < n; i++) {
        sitr_synth_hash(&rng_state, &h);
        model_add(m, &h, (*id)++);
    }
}

/* Adds per near copies (under maxd bits away) of each of centres random
 * centres, ids from *id on: clustered data, as near-duplicates are. */
static void model_add_clusters(model_t *m, int centres, int per, int maxd, uint64_t *id)
{
    sitr_pdq_t c, h;
    for (int k = 0; k < centres; k++) {
        sitr_synth_hash(&rng_state, &c);
        for (int j = 0; j < per; j++) {
            h = c;
            sitr_synth_flip_bits(&rng_state, &h, (int)(sitr_synth_next(&rng_state) % maxd));
            model_add(m, &h, (*id)++);
        }
    }
}

static void model_del_at(model_t *m, size_t i)
{
    m->e[i] = m->e[--m->n];
}

static int cmp_hit(const void *a, const void *b)
{
    const sitr_index_hit_t *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->distance > y->distance) - (x->distance < y->distance);
}

#define MAXHITS 200000
static sitr_index_hit_t got[MAXHITS], want[MAXHITS];

/* Asserts index search == brute force for q at radius r; returns the count. */
static size_t check_query(sitr_index_t *idx, const model_t *m, const sitr_pdq_t *q, int r)
{
    size_t ng = 0;
    assert_int_equal(sitr_index_search(idx, q, r, got, MAXHITS, &ng, NULL), 0);
    size_t nw = sitr_index_brute(m->e, m->n, q, r, want, MAXHITS);
    assert_int_equal(ng, nw);
    assert_true(nw <= MAXHITS);
    qsort(got, ng, sizeof *got, cmp_hit);
    qsort(want, nw, sizeof *want, cmp_hit);
    for (size_t i = 0; i < nw; i++) {
        assert_int_equal(got[i].id, want[i].id);
        assert_int_equal(got[i].distance, want[i].distance);
    }
    return nw;
}

static const int radii[] = {0, 1, 2, 5, 10, 16, 20, 31, 32, 40, 43, 44, 60};

/* Random queries and queries planted at distance 0..40 from stored
 * entries, over all radii; returns the total number of hits seen. */
static size_t check_many(sitr_index_t *idx, const model_t *m, int nq)
{
    size_t total = 0;
    sitr_pdq_t q;
    for (int i = 0; i < nq; i++) {
        if (i % 2 == 0 && m->n) {
            q = m->e[sitr_synth_next(&rng_state) % m->n].hash;
            sitr_synth_flip_bits(&rng_state, &q, (int)(sitr_synth_next(&rng_state) % 41));
        } else {
            sitr_synth_hash(&rng_state, &q);
        }
        for (size_t k = 0; k < sizeof radii / sizeof radii[0]; k++)
            total += check_query(idx, m, &q, radii[k]);
    }
    return total;
}

static void test_empty(void **state)
{
    (void)state;
    sitr_index_t *idx = sitr_index_new();
    assert_non_null(idx);
    model_t m = {0};
    sitr_pdq_t q;
    sitr_synth_hash(&rng_state, &q);
    assert_int_equal(check_query(idx, &m, &q, 0), 0);
    assert_int_equal(check_query(idx, &m, &q, 256), 0);
    size_t found = 7;
    assert_int_equal(sitr_index_search(idx, &q, -1, got, 1, &found, NULL), SITR_EINVAL);
    assert_int_equal(sitr_index_search(idx, &q, 257, got, 1, &found, NULL), SITR_EINVAL);
    assert_int_equal(sitr_index_bulk_build(idx, NULL, 0, 1), 0);
    assert_int_equal(check_query(idx, &m, &q, 31), 0);
    assert_int_equal(sitr_index_size(idx), 0);
    assert_int_equal(sitr_index_remove(idx, &q, 1), 0);
    sitr_index_free(idx);
    sitr_index_free(NULL);
}

static void test_uniform(void **state)
{
    (void)state;
    model_t m = {0};
    sitr_pdq_t h;
    for (uint64_t i = 0; i < 60000; i++) {
        sitr_synth_hash(&rng_state, &h);
        model_add(&m, &h, i);
    }
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 2), 0);
    assert_int_equal(sitr_index_size(idx), m.n);
    size_t hits = check_many(idx, &m, 150);
    assert_true(hits > 150); /* planted queries do find their entries */
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    assert_int_equal(st.entries, m.n);
    assert_true(st.bytes > m.n * 40);
    sitr_index_free(idx);
    free(m.e);
}

/* Entries at exactly 30, 31, 32 and 33 from the query. */
static void test_boundaries(void **state)
{
    (void)state;
    model_t m = {0};
    sitr_pdq_t h, q;
    for (uint64_t i = 0; i < 20000; i++) {
        sitr_synth_hash(&rng_state, &h);
        model_add(&m, &h, 1000000 + i);
    }
    sitr_index_t *idx = sitr_index_new();
    for (int rep = 0; rep < 40; rep++) {
        sitr_synth_hash(&rng_state, &q);
        model_t mm = {0};
        for (size_t i = 0; i < m.n; i++)
            model_add(&mm, &m.e[i].hash, m.e[i].id);
        for (int d = 30; d <= 33; d++) {
            h = q;
            sitr_synth_flip_bits(&rng_state, &h, d);
            model_add(&mm, &h, (uint64_t)d);
        }
        assert_int_equal(sitr_index_bulk_build(idx, mm.e, mm.n, 1), 0);
        for (int r = 30; r <= 33; r++) {
            size_t found = 0;
            assert_int_equal(sitr_index_search(idx, &q, r, got, MAXHITS, &found, NULL), 0);
            int seen[4] = {0};
            for (size_t i = 0; i < found; i++)
                if (got[i].id >= 30 && got[i].id <= 33) {
                    assert_int_equal(got[i].distance, (int)got[i].id);
                    seen[got[i].id - 30]++;
                }
            for (int d = 30; d <= 33; d++)
                assert_int_equal(seen[d - 30], d <= r ? 1 : 0);
            check_query(idx, &mm, &q, r);
        }
        free(mm.e);
    }
    sitr_index_free(idx);
    free(m.e);
}

static void test_clustered(void **state)
{
    (void)state;
    model_t m = {0};
    uint64_t id = 0;
    model_add_clusters(&m, 2000, 40, 24, &id);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 2), 0);
    size_t hits = check_many(idx, &m, 120);
    assert_true(hits > 1000);
    sitr_index_free(idx);
    free(m.e);
}

static void test_duplicates(void **state)
{
    (void)state;
    model_t in = {0}, m = {0};
    sitr_pdq_t h, other;
    sitr_synth_hash(&rng_state, &h);
    sitr_synth_hash(&rng_state, &other);
    /* Same hash under 100 ids, each pair given twice; same id under two hashes. */
    for (uint64_t i = 0; i < 100; i++) {
        model_add(&in, &h, i);
        model_add(&in, &h, i);
        model_add(&m, &h, i);
    }
    model_add(&in, &other, 5);
    model_add(&m, &other, 5);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, in.e, in.n, 1), 0);
    assert_int_equal(sitr_index_size(idx), 101);
    assert_int_equal(check_query(idx, &m, &h, 0), 100);
    assert_int_equal(sitr_index_insert(idx, &h, 7), 0);    /* already in main */
    assert_int_equal(sitr_index_insert(idx, &h, 1000), 1); /* new id, same hash */
    assert_int_equal(sitr_index_insert(idx, &h, 1000), 0); /* already in tail */
    model_add(&m, &h, 1000);
    assert_int_equal(check_query(idx, &m, &h, 31), 101);
    assert_int_equal(sitr_index_remove(idx, &h, 7), 1);
    assert_int_equal(sitr_index_remove(idx, &h, 7), 0);
    for (size_t i = 0; i < m.n; i++)
        if (m.e[i].id == 7)
            model_del_at(&m, i);
    assert_int_equal(check_query(idx, &m, &h, 31), 100);
    assert_int_equal(sitr_index_insert(idx, &h, 7), 1); /* re-insert after delete */
    model_add(&m, &h, 7);
    assert_int_equal(check_query(idx, &m, &h, 0), 101);
    /* found counts beyond max; only max hits are written */
    size_t found = 0;
    assert_int_equal(sitr_index_search(idx, &h, 0, got, 10, &found, NULL), 0);
    assert_int_equal(found, 101);
    free(in.e);
    free(m.e);
    sitr_index_free(idx);
}

static void test_mutations(void **state)
{
    (void)state;
    model_t m = {0};
    sitr_pdq_t h;
    uint64_t next_id = 0;
    for (; next_id < 30000; next_id++) {
        sitr_synth_hash(&rng_state, &h);
        model_add(&m, &h, next_id << 3);
    }
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 1), 0);
    model_t removed = {0};
    for (int round = 0; round < 6; round++) {
        /* Delete ~1500 random live entries (main, delta or tail). */
        for (int k = 0; k < 1500 && m.n; k++) {
            size_t i = sitr_synth_next(&rng_state) % m.n;
            assert_int_equal(sitr_index_remove(idx, &m.e[i].hash, m.e[i].id), 1);
            model_add(&removed, &m.e[i].hash, m.e[i].id);
            model_del_at(&m, i);
        }
        /* Insert 5000 new entries, some near existing ones (crosses the tail
         * limit, so deltas are rebuilt). */
        for (int k = 0; k < 5000; k++, next_id++) {
            if (k % 3 == 0) {
                h = m.e[sitr_synth_next(&rng_state) % m.n].hash;
                sitr_synth_flip_bits(&rng_state, &h, (int)(sitr_synth_next(&rng_state) % 33));
            } else {
                sitr_synth_hash(&rng_state, &h);
            }
            assert_int_equal(sitr_index_insert(idx, &h, next_id << 3), 1);
            model_add(&m, &h, next_id << 3);
        }
        /* Re-insert half of what was removed. */
        while (removed.n > 700) {
            size_t i = removed.n - 1;
            assert_int_equal(sitr_index_insert(idx, &removed.e[i].hash, removed.e[i].id), 1);
            model_add(&m, &removed.e[i].hash, removed.e[i].id);
            removed.n--;
        }
        assert_int_equal(sitr_index_size(idx), m.n);
        check_many(idx, &m, 30);
    }
    /* Remove every entry whose id has bit 3 set (a mask removal), with some
     * variants of it in the tail. */
    for (int v = 1; v < 8; v++) {
        h = m.e[0].hash;
        sitr_synth_flip_bits(&rng_state, &h, v);
        uint64_t id = (m.e[0].id & ~7ull) | (uint64_t)v;
        assert_int_equal(sitr_index_insert(idx, &h, id), 1);
        model_add(&m, &h, id);
    }
    uint64_t target = m.e[0].id & ~7ull;
    size_t expect = 0;
    for (size_t i = 0; i < m.n; i++)
        expect += (m.e[i].id & ~7ull) == target;
    assert_int_equal(expect, 8);
    assert_int_equal(sitr_index_remove_ids(idx, target, ~7ull), expect);
    for (size_t i = 0; i < m.n;)
        if ((m.e[i].id & ~7ull) == target)
            model_del_at(&m, i);
        else
            i++;
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 20);
    assert_int_equal(sitr_index_compact(idx), 0);
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    assert_int_equal(st.tombstones, 0);
    assert_int_equal(st.main_entries, m.n);
    check_many(idx, &m, 20);
    free(m.e);
    free(removed.e);
    sitr_index_free(idx);
}

/* Bulk insertion (into the delta for a small batch, a full rebuild for a
 * large one; pairs already there stay once) and removal by predicate (all
 * the ids of an imported case at once), against brute force. */
static int drop_odd_image(uint64_t id, void *arg)
{
    (void)arg;
    return (id >> 3) % 2 == 1;
}

static void test_bulk_and_remove_if(void **state)
{
    (void)state;
    model_t m = {0}, batch = {0};
    uint64_t id = 0;
    model_add_random(&m, 20000, &id);
    for (size_t i = 0; i < m.n; i++)
        m.e[i].id <<= 3;
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 1), 0);
    /* A few single inserts in the tail first. */
    sitr_pdq_t h;
    for (int k = 0; k < 100; k++, id++) {
        sitr_synth_hash(&rng_state, &h);
        assert_int_equal(sitr_index_insert(idx, &h, id << 3), 1);
        model_add(&m, &h, id << 3);
    }
    size_t sizes[2] = {1000, 60000}; /* delta, then a full rebuild */
    for (int round = 0; round < 2; round++) {
        batch.n = 0;
        size_t first = id;
        model_add_clusters(&batch, (int)(sizes[round] / 10), 10, 20, &id);
        for (size_t i = 0; i < batch.n; i++)
            batch.e[i].id = (first + i) << 3;
        /* A pair already in the index and a repeated pair collapse. */
        model_add(&batch, &m.e[5].hash, m.e[5].id);
        model_add(&batch, &batch.e[0].hash, batch.e[0].id);
        assert_int_equal(sitr_index_insert_bulk(idx, batch.e, batch.n, 2), 0);
        for (size_t i = 0; i + 2 < batch.n; i++)
            model_add(&m, &batch.e[i].hash, batch.e[i].id);
        assert_int_equal(sitr_index_size(idx), m.n);
        check_many(idx, &m, 20);
    }
    assert_int_equal(sitr_index_insert_bulk(idx, NULL, 0, 1), 0);
    size_t expect = 0;
    for (size_t i = 0; i < m.n; i++)
        expect += drop_odd_image(m.e[i].id, NULL);
    assert_int_equal(sitr_index_remove_if(idx, drop_odd_image, NULL), expect);
    for (size_t i = 0; i < m.n;)
        if (drop_odd_image(m.e[i].id, NULL))
            model_del_at(&m, i);
        else
            i++;
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 20);
    free(m.e);
    free(batch.e);
    sitr_index_free(idx);
}

/* Inserts past the delta limit so the main segment is rebuilt on its own. */
static void test_auto_compaction(void **state)
{
    (void)state;
    model_t m = {0};
    sitr_pdq_t h;
    sitr_index_t *idx = sitr_index_new();
    for (uint64_t i = 0; i < 70000; i++) {
        sitr_synth_hash(&rng_state, &h);
        assert_int_equal(sitr_index_insert(idx, &h, i), 1);
        model_add(&m, &h, i);
    }
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    assert_int_equal(st.entries, m.n);
    assert_true(st.main_entries > 0);
    check_many(idx, &m, 20);
    free(m.e);
    sitr_index_free(idx);
}

/* Readers search while the writer inserts and removes other entries: the
 * fixed entries must be found by every search. */
typedef struct reader_arg {
    sitr_index_t *idx;
    const model_t *fixed;
    int failures;
} reader_arg_t;

static void *reader(void *p)
{
    reader_arg_t *a = p;
    sitr_index_hit_t hits[64];
    for (int k = 0; k < 3000; k++) {
        const sitr_index_entry_t *e = &a->fixed->e[(size_t)k % a->fixed->n];
        size_t found = 0;
        if (sitr_index_search(a->idx, &e->hash, 0, hits, 64, &found, NULL) != 0) {
            a->failures++;
            continue;
        }
        int ok = 0;
        for (size_t i = 0; i < found && i < 64; i++)
            ok |= hits[i].id == e->id;
        if (!ok)
            a->failures++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    model_t fixed = {0};
    sitr_pdq_t h;
    for (uint64_t i = 0; i < 20000; i++) {
        sitr_synth_hash(&rng_state, &h);
        model_add(&fixed, &h, i);
    }
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, fixed.e, fixed.n, 1), 0);
    reader_arg_t ra[2] = {{idx, &fixed, 0}, {idx, &fixed, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &ra[i]), 0);
    for (uint64_t i = 0; i < 6000; i++) {
        sitr_synth_hash(&rng_state, &h);
        assert_int_equal(sitr_index_insert(idx, &h, 1000000 + i), 1);
        if (i % 2)
            assert_int_equal(sitr_index_remove(idx, &h, 1000000 + i), 1);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(ra[0].failures, 0);
    assert_int_equal(ra[1].failures, 0);
    assert_int_equal(sitr_index_size(idx), 23000);
    free(fixed.e);
    sitr_index_free(idx);
}

/* ---- batched search and the code variants ---- */

/* Asserts that a batch over qs[0..nq) returns, per query, exactly the
 * brute-force hits (and that the per-query counters add up). */
static void check_batch(sitr_index_t *idx, const model_t *m, const sitr_pdq_t *qs, size_t nq, int r,
                        size_t max)
{
    sitr_index_hit_t *out = malloc(nq * max * sizeof *out);
    size_t *found = malloc(nq * sizeof *found);
    sitr_index_qstats_t *st = malloc(nq * sizeof *st);
    assert_non_null(out);
    assert_non_null(found);
    assert_non_null(st);
    assert_int_equal(sitr_index_search_batch(idx, qs, nq, r, out, max, found, st), 0);
    for (size_t i = 0; i < nq; i++) {
        size_t nw = sitr_index_brute(m->e, m->n, &qs[i], r, want, MAXHITS);
        assert_true(nw <= MAXHITS);
        assert_int_equal(found[i], nw);
        size_t kept = nw < max ? nw : max;
        sitr_index_hit_t *o = out + i * max;
        qsort(want, nw, sizeof *want, cmp_hit);
        /* every returned hit is a true hit; all of them when they fit */
        for (size_t k = 0; k < kept; k++) {
            sitr_index_hit_t *w = bsearch(&o[k], want, nw, sizeof *want, cmp_hit);
            assert_non_null(w);
        }
        if (nw <= max) {
            qsort(o, kept, sizeof *o, cmp_hit);
            for (size_t k = 0; k < kept; k++) {
                assert_int_equal(o[k].id, want[k].id);
                assert_int_equal(o[k].distance, want[k].distance);
            }
        }
        /* the single search agrees, work counters included */
        size_t ng = 0;
        sitr_index_qstats_t one;
        assert_int_equal(sitr_index_search(idx, &qs[i], r, got, MAXHITS, &ng, &one), 0);
        assert_int_equal(ng, nw);
        assert_int_equal(one.probes, st[i].probes);
        assert_int_equal(one.candidates, st[i].candidates);
    }
    /* counts only */
    memset(found, 0xff, nq * sizeof *found);
    assert_int_equal(sitr_index_search_batch(idx, qs, nq, r, NULL, 0, found, NULL), 0);
    for (size_t i = 0; i < nq; i++)
        assert_int_equal(found[i], sitr_index_brute(m->e, m->n, &qs[i], r, want, 0));
    free(out);
    free(found);
    free(st);
}

/* Uniform and clustered entries, a giant bucket of one repeated hash (more
 * candidates than the pipeline buffers), a delta segment, tail entries and
 * tombstones; batches at several radii, also one query and none. */
static void test_batch(void **state)
{
    (void)state;
    model_t m = {0};
    sitr_pdq_t h, same;
    uint64_t id = 0;
    model_add_random(&m, 30000, &id);
    model_add_clusters(&m, 300, 30, 20, &id);
    sitr_synth_hash(&rng_state, &same);
    for (int j = 0; j < 1500; j++)
        model_add(&m, &same, id++);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 2), 0);
    /* later inserts (delta + tail) and removals */
    for (int i = 0; i < 3000; i++) {
        h = m.e[sitr_synth_next(&rng_state) % m.n].hash;
        sitr_synth_flip_bits(&rng_state, &h, (int)(sitr_synth_next(&rng_state) % 8));
        assert_int_equal(sitr_index_insert(idx, &h, id), 1);
        model_add(&m, &h, id++);
    }
    for (int i = 0; i < 500; i++) {
        size_t at = sitr_synth_next(&rng_state) % m.n;
        assert_int_equal(sitr_index_remove(idx, &m.e[at].hash, m.e[at].id), 1);
        model_del_at(&m, at);
    }
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    assert_true(st.delta_entries > 0 && st.tail_entries > 0 && st.tombstones > 0);

    enum { NQ = 70 };
    sitr_pdq_t qs[NQ];
    for (int i = 0; i < NQ; i++) {
        if (i % 3 == 0) {
            sitr_synth_hash(&rng_state, &qs[i]);
        } else {
            qs[i] = i % 7 == 0 ? same : m.e[sitr_synth_next(&rng_state) % m.n].hash;
            sitr_synth_flip_bits(&rng_state, &qs[i], (int)(sitr_synth_next(&rng_state) % 36));
        }
    }
    static const int br[] = {0, 7, 31, 32, 43, 50};
    for (size_t k = 0; k < sizeof br / sizeof br[0]; k++)
        check_batch(idx, &m, qs, NQ, br[k], 4000);
    check_batch(idx, &m, qs, NQ, 31, 3); /* truncated per query */
    check_batch(idx, &m, qs + 5, 1, 31, 100);
    size_t f = 0;
    assert_int_equal(sitr_index_search_batch(idx, qs, 0, 31, NULL, 0, NULL, NULL), 0);
    assert_int_equal(sitr_index_search_batch(idx, qs, 1, 257, got, 1, &f, NULL), SITR_EINVAL);
    assert_int_equal(sitr_index_search_batch(idx, qs, 1, -1, got, 1, &f, NULL), SITR_EINVAL);
    assert_int_equal(sitr_index_search_batch(idx, qs, 1, 31, got, 1, NULL, NULL), SITR_EINVAL);
    assert_int_equal(sitr_index_search_batch(idx, NULL, 1, 31, got, 1, &f, NULL), SITR_EINVAL);
    assert_int_equal(sitr_index_search_batch(idx, qs, 2, 31, got, SIZE_MAX, &f, NULL), SITR_EINVAL);
    sitr_index_free(idx);
    free(m.e);
}

/* Every search code variant the CPU runs gives the brute-force answers
 * (generic always; popcnt and AVX-512 where supported). */
static void test_isa_variants(void **state)
{
    (void)state;
    model_t m = {0};
    uint64_t id = 0;
    model_add_random(&m, 20000, &id);
    model_add_clusters(&m, 200, 40, 24, &id);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 1), 0);
    const char *best = sitr_index_isa();
    static const char *const names[] = {"generic", "popcnt", "avx512"};
    int ran = 0;
    for (int v = 0; v < 3; v++) {
        if (sitr_index_set_isa(names[v]) != 0)
            continue;
        assert_string_equal(sitr_index_isa(), names[v]);
        ran++;
        assert_true(check_many(idx, &m, 25) > 25);
        sitr_pdq_t qs[20];
        for (int i = 0; i < 20; i++) {
            qs[i] = m.e[sitr_synth_next(&rng_state) % m.n].hash;
            sitr_synth_flip_bits(&rng_state, &qs[i], (int)(sitr_synth_next(&rng_state) % 34));
        }
        check_batch(idx, &m, qs, 20, 31, 2000);
    }
    assert_true(ran >= 1);
    assert_int_equal(sitr_index_set_isa("no-such-isa"), SITR_EINVAL);
    assert_int_equal(sitr_index_set_isa(NULL), 0);
    assert_string_equal(sitr_index_isa(), best);
    sitr_index_free(idx);
    free(m.e);
}

/* ---- attached segments ---- */

/* Builds a standalone segment of m's entries (threads as given) and checks
 * its size: m's pairs, counted once. */
static sitr_index_segment_t *segment_of(const model_t *m, int threads, size_t distinct)
{
    sitr_index_segment_t *seg = NULL;
    assert_int_equal(sitr_index_segment_build(m->e, m->n, threads, &seg), 0);
    assert_non_null(seg);
    assert_int_equal(sitr_index_segment_size(seg), distinct);
    return seg;
}

static void model_append(model_t *dst, const model_t *src, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        model_add(dst, &src->e[i].hash, src->e[i].id);
}

/* Removes from m (not the index) the entries with ids in [lo, hi); returns
 * how many. */
static size_t model_del_ids(model_t *m, uint64_t lo, uint64_t hi)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n;)
        if (m->e[i].id >= lo && m->e[i].id < hi) {
            model_del_at(m, i);
            n++;
        } else {
            i++;
        }
    return n;
}

/* Queries near entries spread evenly over the model (so every segment
 * holding a run of it is reached), at an MIH and a linear radius. */
static void check_spread(sitr_index_t *idx, const model_t *m, size_t nq)
{
    for (size_t i = 0; i < nq && m->n; i++) {
        sitr_pdq_t q = m->e[i * m->n / nq].hash;
        sitr_synth_flip_bits(&rng_state, &q, (int)(sitr_synth_next(&rng_state) % 12));
        assert_true(check_query(idx, m, &q, 16) >= 1);
        check_query(idx, m, &q, 48);
    }
}

/* Queries planted near the model's entries (and random ones). */
static void planted_queries(const model_t *m, sitr_pdq_t *qs, size_t nq, int maxd)
{
    for (size_t i = 0; i < nq; i++) {
        if (i % 4 == 0) {
            sitr_synth_hash(&rng_state, &qs[i]);
        } else {
            qs[i] = m->e[sitr_synth_next(&rng_state) % m->n].hash;
            sitr_synth_flip_bits(&rng_state, &qs[i], (int)(sitr_synth_next(&rng_state) % maxd));
        }
    }
}

/* Main, delta, tail and three attached segments (near copies of main
 * entries, a repeated hash, duplicate pairs in a segment's input) with
 * tombstones everywhere: every search of every code variant, single and
 * batched, MIH and linear radii, equals brute force; then removal by mask
 * and predicate, detach (tombstoned entries not counted) and compaction
 * (tags dropped). */
static void test_attach_search(void **state)
{
    (void)state;
    model_t m = {0}, part[3] = {{0}};
    uint64_t id = 0, lo[3], hi[3];
    sitr_pdq_t h, same;
    model_add_random(&m, 20000, &id);
    model_add_clusters(&m, 200, 20, 24, &id);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 1), 0);
    size_t nmain = m.n;
    sitr_synth_hash(&rng_state, &same);
    for (int p = 0; p < 3; p++) {
        lo[p] = id;
        model_add_random(&part[p], 4000 + 2000 * p, &id);
        for (int k = 0; k < 2000; k++) {
            h = m.e[sitr_synth_next(&rng_state) % nmain].hash;
            sitr_synth_flip_bits(&rng_state, &h, (int)(sitr_synth_next(&rng_state) % 20));
            model_add(&part[p], &h, id++);
        }
        if (p == 2)
            for (int k = 0; k < 300; k++)
                model_add(&part[p], &same, id++);
        hi[p] = id;
        size_t distinct = part[p].n;
        if (p == 2) { /* two pairs given twice */
            model_add(&part[p], &part[p].e[0].hash, part[p].e[0].id);
            model_add(&part[p], &part[p].e[distinct - 1].hash, part[p].e[distinct - 1].id);
        }
        sitr_index_segment_t *seg = segment_of(&part[p], p == 1 ? 2 : 1, distinct);
        assert_int_equal(sitr_index_attach(idx, seg, 100 + (uint64_t)p), 0);
        model_append(&m, &part[p], 0, distinct);
        assert_int_equal(sitr_index_size(idx), m.n);
    }
    /* A pair of an attached segment is already present. */
    assert_int_equal(sitr_index_insert(idx, &part[1].e[3].hash, part[1].e[3].id), 0);
    /* Later inserts (a delta and a tail), some near attached entries. */
    for (int k = 0; k < 3000; k++) {
        h = part[k % 3].e[sitr_synth_next(&rng_state) % 1000].hash;
        sitr_synth_flip_bits(&rng_state, &h, (int)(sitr_synth_next(&rng_state) % 10));
        assert_int_equal(sitr_index_insert(idx, &h, id), 1);
        model_add(&m, &h, id++);
    }
    /* Removals everywhere, two of them checked in an attached segment. */
    for (int p = 0; p < 2; p++) {
        sitr_index_entry_t e = part[p].e[10];
        assert_int_equal(sitr_index_remove(idx, &e.hash, e.id), 1);
        assert_int_equal(sitr_index_remove(idx, &e.hash, e.id), 0);
        assert_int_equal(model_del_ids(&m, e.id, e.id + 1), 1);
    }
    for (int k = 0; k < 800; k++) {
        size_t at = sitr_synth_next(&rng_state) % m.n;
        assert_int_equal(sitr_index_remove(idx, &m.e[at].hash, m.e[at].id), 1);
        model_del_at(&m, at);
    }
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    assert_int_equal(st.attached_segments, 3);
    assert_int_equal(st.attached_entries, hi[0] - lo[0] + hi[1] - lo[1] + hi[2] - lo[2]);
    assert_true(st.delta_entries > 0 && st.tail_entries > 0 && st.tombstones > 0);
    assert_int_equal(st.entries, m.n);
    assert_int_equal(sitr_index_size(idx), m.n);

    static const char *const names[] = {"generic", "popcnt", "avx512"};
    int ran = 0;
    enum { NQ = 40 };
    sitr_pdq_t qs[NQ];
    for (int v = 0; v < 3; v++) {
        if (sitr_index_set_isa(names[v]) != 0)
            continue;
        ran++;
        assert_true(check_many(idx, &m, 12) > 12);
        planted_queries(&m, qs, NQ, 34);
        qs[1] = same;
        check_batch(idx, &m, qs, NQ, 31, 2000);
        check_batch(idx, &m, qs, NQ, 50, 2000); /* the linear path */
    }
    assert_true(ran >= 1);
    assert_int_equal(sitr_index_set_isa(NULL), 0);

    /* Mask and predicate removals reach the attached segments. */
    uint64_t target = 0;
    for (size_t i = 0; i < m.n && !target; i++)
        if (m.e[i].id >= lo[2] && m.e[i].id < hi[2])
            target = m.e[i].id & ~7ull;
    size_t expect = 0;
    for (size_t i = 0; i < m.n; i++)
        expect += (m.e[i].id & ~7ull) == target;
    assert_true(expect >= 1);
    assert_int_equal(sitr_index_remove_ids(idx, target, ~7ull), expect);
    model_del_ids(&m, target, target + 8);
    expect = 0;
    for (size_t i = 0; i < m.n; i++)
        expect += drop_odd_image(m.e[i].id, NULL);
    assert_int_equal(sitr_index_remove_if(idx, drop_odd_image, NULL), expect);
    for (size_t i = 0; i < m.n;)
        if (drop_odd_image(m.e[i].id, NULL))
            model_del_at(&m, i);
        else
            i++;
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 10);
    check_spread(idx, &m, 40);

    /* Detach: only the live entries leave (none of the later inserts had
     * ids in the segment's range). */
    size_t live1 = 0;
    for (size_t i = 0; i < m.n; i++)
        live1 += m.e[i].id >= lo[1] && m.e[i].id < hi[1];
    assert_true(live1 > 0 && live1 < hi[1] - lo[1]);
    assert_int_equal(sitr_index_detach(idx, 101), live1);
    assert_int_equal(sitr_index_detach(idx, 101), 0);
    assert_int_equal(sitr_index_detach(idx, 999), 0);
    assert_int_equal(sitr_index_detach(idx, 0), 0);
    assert_int_equal(model_del_ids(&m, lo[1], hi[1]), live1);
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 10);
    check_spread(idx, &m, 40);
    planted_queries(&m, qs, NQ, 34);
    check_batch(idx, &m, qs, NQ, 31, 2000);

    /* Compaction merges the attached segments: their tags are gone. */
    assert_int_equal(sitr_index_compact(idx), 0);
    sitr_index_stats(idx, &st);
    assert_int_equal(st.attached_segments, 0);
    assert_int_equal(st.attached_entries, 0);
    assert_int_equal(st.main_entries, m.n);
    assert_int_equal(sitr_index_detach(idx, 100), 0);
    assert_int_equal(sitr_index_detach(idx, 102), 0);
    check_many(idx, &m, 10);
    check_spread(idx, &m, 40);
    for (int p = 0; p < 3; p++)
        free(part[p].e);
    free(m.e);
    sitr_index_free(idx);
}

/* Random segment of n new entries from *id on, appended to m too. */
static sitr_index_segment_t *random_segment(model_t *m, size_t n, uint64_t *id)
{
    model_t p = {0};
    model_add_random(&p, (int)n, id);
    sitr_index_segment_t *seg = segment_of(&p, 1, n);
    model_append(m, &p, 0, p.n);
    free(p.e);
    return seg;
}

/* Invalid attaches (ownership stays with the caller: ASan sees a leak or a
 * double free otherwise), attach over the limit (a merge), empty segments,
 * tail folds beside attached segments, insert_bulk into the delta (pairs
 * of attached segments not repeated) and its full rebuild, bulk_build and
 * free with segments attached. */
static void test_attach_lifecycle(void **state)
{
    (void)state;
    model_t m = {0}, spare = {0};
    uint64_t id = 0;
    model_add_random(&m, 5000, &id);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, m.e, m.n, 1), 0);
    sitr_index_segment_free(NULL);

    sitr_index_segment_t *a = random_segment(&m, 700, &id);
    sitr_index_segment_t *b = random_segment(&spare, 300, &id);
    assert_int_equal(sitr_index_attach(idx, NULL, 7), SITR_EINVAL);
    assert_int_equal(sitr_index_attach(idx, a, 0), SITR_EINVAL);
    assert_int_equal(sitr_index_attach(idx, a, 7), 0);
    assert_int_equal(sitr_index_attach(idx, a, 8), SITR_EINVAL); /* already attached */
    assert_int_equal(sitr_index_attach(idx, b, 7), SITR_EINVAL); /* tag taken */
    sitr_index_segment_free(b);                                  /* still ours */
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);

    /* An empty segment attaches and detaches. */
    sitr_index_segment_t *e = NULL;
    assert_int_equal(sitr_index_segment_build(NULL, 0, 2, &e), 0);
    assert_int_equal(sitr_index_segment_size(e), 0);
    assert_int_equal(sitr_index_attach(idx, e, 20), 0);
    assert_int_equal(sitr_index_detach(idx, 20), 0);

    /* Four attached (7, 11, 12, 13), then a fifth: the four are merged into
     * the main segment and the fifth stays whole. */
    for (uint64_t t = 11; t <= 13; t++)
        assert_int_equal(sitr_index_attach(idx, random_segment(&m, 400, &id), t), 0);
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    assert_int_equal(st.attached_segments, 4);
    assert_int_equal(st.attached_entries, 700 + 3 * 400);
    check_spread(idx, &m, 60);
    uint64_t lo5 = id;
    assert_int_equal(sitr_index_attach(idx, random_segment(&m, 500, &id), 14), 0);
    sitr_index_stats(idx, &st);
    assert_int_equal(st.attached_segments, 1);
    assert_int_equal(st.attached_entries, 500);
    assert_int_equal(st.main_entries, m.n - 500);
    for (uint64_t t = 11; t <= 13; t++)
        assert_int_equal(sitr_index_detach(idx, t), 0);
    assert_int_equal(sitr_index_detach(idx, 7), 0);
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);
    assert_int_equal(sitr_index_detach(idx, 14), 500);
    model_del_ids(&m, lo5, lo5 + 500);
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);

    /* Tail folds into the delta leave an attached segment whole. */
    model_t seg15 = {0};
    uint64_t lo15 = id;
    sitr_index_segment_t *s15 = random_segment(&seg15, 600, &id);
    model_append(&m, &seg15, 0, seg15.n);
    assert_int_equal(sitr_index_attach(idx, s15, 15), 0);
    sitr_pdq_t h;
    for (int k = 0; k < 2100; k++) {
        sitr_synth_hash(&rng_state, &h);
        assert_int_equal(sitr_index_insert(idx, &h, id), 1);
        model_add(&m, &h, id++);
    }
    sitr_index_stats(idx, &st);
    assert_true(st.delta_entries >= 2048);
    assert_int_equal(st.attached_segments, 1);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);

    /* A small insert_bulk goes to the delta; pairs of the attached segment
     * in it are already present. */
    model_t batch = {0};
    model_add_random(&batch, 300, &id);
    model_append(&m, &batch, 0, batch.n);
    model_append(&batch, &seg15, 0, 50);
    assert_int_equal(sitr_index_insert_bulk(idx, batch.e, batch.n, 1), 0);
    assert_int_equal(sitr_index_size(idx), m.n);
    sitr_index_stats(idx, &st);
    assert_int_equal(st.attached_segments, 1);
    assert_int_equal(sitr_index_detach(idx, 15), 600);
    model_del_ids(&m, lo15, lo15 + 600);
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);

    /* A large insert_bulk rebuilds everything: the tag is dropped. */
    assert_int_equal(sitr_index_attach(idx, random_segment(&m, 200, &id), 16), 0);
    batch.n = 0;
    model_add_random(&batch, 70000, &id);
    model_append(&m, &batch, 0, batch.n);
    assert_int_equal(sitr_index_insert_bulk(idx, batch.e, batch.n, 2), 0);
    assert_int_equal(sitr_index_detach(idx, 16), 0);
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);

    /* bulk_build replaces the attached segments too. */
    assert_int_equal(sitr_index_attach(idx, random_segment(&spare, 200, &id), 17), 0);
    assert_int_equal(sitr_index_bulk_build(idx, m.e, 1000, 1), 0);
    assert_int_equal(sitr_index_detach(idx, 17), 0);
    m.n = 1000;
    assert_int_equal(sitr_index_size(idx), m.n);
    check_many(idx, &m, 5);
    check_spread(idx, &m, 40);

    /* Freed with segments attached. */
    assert_int_equal(sitr_index_attach(idx, random_segment(&m, 100, &id), 18), 0);
    assert_int_equal(sitr_index_attach(idx, random_segment(&m, 100, &id), 19), 0);
    check_many(idx, &m, 3);
    check_spread(idx, &m, 40);
    sitr_index_free(idx);
    free(m.e);
    free(spare.e);
    free(seg15.e);
    free(batch.e);
}

/* Readers search fixed entries (in the main segment and in an attached
 * one) while the writer attaches, detaches and merges other segments and
 * inserts: every search finds them, and the final size adds up. */
typedef struct seg_reader {
    sitr_index_t *idx;
    const model_t *fixed;
    _Atomic int *stop;
    int failures, rounds;
} seg_reader_t;

static void *seg_reader(void *p)
{
    seg_reader_t *a = p;
    sitr_index_hit_t hits[8 * 64];
    sitr_pdq_t qs[8];
    size_t found[8];
    for (size_t k = 0; !atomic_load(a->stop) || a->rounds < 200; k++, a->rounds++) {
        for (int j = 0; j < 8; j++)
            qs[j] = a->fixed->e[(k * 8 + (size_t)j) % a->fixed->n].hash;
        if (sitr_index_search_batch(a->idx, qs, 8, 0, hits, 64, found, NULL) != 0) {
            a->failures++;
            continue;
        }
        for (int j = 0; j < 8; j++) {
            uint64_t want_id = a->fixed->e[(k * 8 + (size_t)j) % a->fixed->n].id;
            int ok = 0;
            for (size_t i = 0; i < found[j] && i < 64; i++)
                ok |= hits[j * 64 + i].id == want_id;
            a->failures += !ok;
        }
    }
    return NULL;
}

static void test_attach_concurrent(void **state)
{
    (void)state;
    model_t fixed = {0}, other = {0};
    uint64_t id = 0;
    model_add_random(&fixed, 10000, &id);
    sitr_index_t *idx = sitr_index_new();
    assert_int_equal(sitr_index_bulk_build(idx, fixed.e, fixed.n, 1), 0);
    assert_int_equal(sitr_index_attach(idx, random_segment(&fixed, 2000, &id), 1), 0);
    _Atomic int stop = 0;
    seg_reader_t ra[2] = {{idx, &fixed, &stop, 0, 0}, {idx, &fixed, &stop, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, seg_reader, &ra[i]), 0);
    size_t expect = fixed.n, merged = 0;
    sitr_pdq_t h;
    for (uint64_t r = 0; r < 30; r++) {
        assert_int_equal(sitr_index_attach(idx, random_segment(&other, 300, &id), 1000 + r), 0);
        expect += 300;
        if (r >= 3) {
            size_t gone = sitr_index_detach(idx, 1000 + r - 3);
            assert_true(gone == 300 || gone == 0);
            expect -= gone;
            merged += gone == 0;
        }
        for (int k = 0; k < 100; k++) {
            sitr_synth_hash(&rng_state, &h);
            assert_int_equal(sitr_index_insert(idx, &h, id++), 1);
            expect++;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(ra[0].failures, 0);
    assert_int_equal(ra[1].failures, 0);
    assert_true(merged > 0); /* the fifth attach merged four */
    assert_int_equal(sitr_index_size(idx), expect);
    free(fixed.e);
    free(other.e);
    sitr_index_free(idx);
}

/* ---- digest tables ---- */

static int drop_range(uint64_t id, void *arg)
{
    (void)arg;
    return id >= 8000 && id < 8192;
}

static void test_digest(void **state)
{
    (void)state;
    assert_null(sitr_digest_index_new(0));
    assert_null(sitr_digest_index_new(33));
    sitr_digest_index_t *d = sitr_digest_index_new(SITR_DIGEST_MD5_BYTES);
    assert_non_null(d);
    enum { N = 20000 };
    uint8_t(*keys)[16] = malloc(N * sizeof *keys);
    uint8_t *live = calloc(N, 1);
    for (int i = 0; i < N; i++) {
        for (int b = 0; b < 16; b += 8) {
            uint64_t v = sitr_synth_next(&rng_state);
            memcpy(keys[i] + b, &v, 8);
        }
        /* every 10th key repeats the previous one under another id */
        if (i % 10 == 1)
            memcpy(keys[i], keys[i - 1], 16);
        assert_int_equal(sitr_digest_index_insert(d, keys[i], (uint64_t)i), 1);
        live[i] = 1;
    }
    assert_int_equal(sitr_digest_index_insert(d, keys[5], 5), 0);
    assert_int_equal(sitr_digest_index_size(d), N);
    uint64_t out[8];
    assert_int_equal(sitr_digest_index_lookup(d, keys[0], out, 8), 2);
    assert_true((out[0] == 0 && out[1] == 1) || (out[0] == 1 && out[1] == 0));
    /* Remove a third, then check every key against the model. */
    for (int i = 0; i < N; i += 3) {
        assert_int_equal(sitr_digest_index_remove(d, keys[i], (uint64_t)i), 1);
        live[i] = 0;
    }
    assert_int_equal(sitr_digest_index_remove(d, keys[0], 0), 0);
    /* Mask removal: ids 3968..4095 (low 7 bits ignored). */
    size_t expect = 0;
    for (int i = 0; i < N; i++)
        if (live[i] && ((uint64_t)i & ~127ull) == 3968)
            expect++;
    assert_int_equal(sitr_digest_index_remove_ids(d, 3968, ~127ull), expect);
    for (int i = 3968; i < 4096; i++)
        live[i] = 0;
    /* By predicate: ids 8000..8191. */
    expect = 0;
    for (int i = 8000; i < 8192; i++)
        expect += live[i];
    assert_int_equal(sitr_digest_index_remove_if(d, drop_range, NULL), expect);
    for (int i = 8000; i < 8192; i++)
        live[i] = 0;
    size_t nlive = 0;
    for (int i = 0; i < N; i++) {
        nlive += live[i];
        size_t want_n = 0;
        for (int j = i - 2; j <= i + 2; j++)
            if (j >= 0 && j < N && live[j] && memcmp(keys[j], keys[i], 16) == 0)
                want_n++;
        size_t n = sitr_digest_index_lookup(d, keys[i], out, 8);
        assert_int_equal(n, want_n);
        int self = 0;
        for (size_t k = 0; k < n && k < 8; k++)
            self |= out[k] == (uint64_t)i;
        assert_int_equal(self, live[i]);
    }
    assert_int_equal(sitr_digest_index_size(d), nlive);
    assert_true(sitr_digest_index_bytes(d) > nlive * 24);
    free(keys);
    free(live);
    sitr_digest_index_free(d);
    sitr_digest_index_free(NULL);

    sitr_digest_index_t *s = sitr_digest_index_new(SITR_DIGEST_SHA256_BYTES);
    uint8_t k32[32] = {1, 2, 3};
    assert_int_equal(sitr_digest_index_lookup(s, k32, out, 8), 0);
    assert_int_equal(sitr_digest_index_insert(s, k32, 42), 1);
    assert_int_equal(sitr_digest_index_lookup(s, k32, out, 8), 1);
    assert_int_equal(out[0], 42);
    k32[31] = 1;
    assert_int_equal(sitr_digest_index_lookup(s, k32, out, 8), 0);
    sitr_digest_index_free(s);
}

/* ---- digest tables with attached tables ---- */

/* Pairs of the reference: key group g (keys dg[g]), id, live. */
enum { DG = 2500 };
static uint8_t dg[DG][16];

typedef struct dpair {
    uint32_t g;
    uint64_t id;
    int live;
} dpair_t;

typedef struct dmodel {
    dpair_t p[40000];
    size_t n;
} dmodel_t;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Every key group's lookup equals the live pairs of the reference. */
static void check_digest(sitr_digest_index_t *d, const dmodel_t *m)
{
    static uint64_t want_ids[4096], got_ids[4096];
    size_t live = 0;
    for (size_t i = 0; i < m->n; i++)
        live += m->p[i].live;
    assert_int_equal(sitr_digest_index_size(d), live);
    for (uint32_t g = 0; g < DG; g++) {
        size_t nw = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->p[i].g == g && m->p[i].live)
                want_ids[nw++] = m->p[i].id;
        size_t ng = sitr_digest_index_lookup(d, dg[g], got_ids, 4096);
        assert_int_equal(ng, nw);
        qsort(want_ids, nw, sizeof *want_ids, cmp_u64);
        qsort(got_ids, ng, sizeof *got_ids, cmp_u64);
        for (size_t i = 0; i < nw; i++)
            assert_int_equal(got_ids[i], want_ids[i]);
    }
}

/* n new pairs in the reference (key groups at random, some shared with
 * earlier pairs), ids from *id on; returns the index of the first. */
static size_t dmodel_add(dmodel_t *m, size_t n, uint64_t *id)
{
    size_t first = m->n;
    assert_true(m->n + n <= sizeof m->p / sizeof m->p[0]);
    for (size_t i = 0; i < n; i++) {
        m->p[m->n].g = (uint32_t)(sitr_synth_next(&rng_state) % DG);
        m->p[m->n].id = (*id)++;
        m->p[m->n].live = 1;
        m->n++;
    }
    return first;
}

/* A table of the pairs [first, first + n) of m: by bulk build (with every
 * pair given twice, in two parts) or by inserts. */
static sitr_digest_index_t *dtable(const dmodel_t *m, size_t first, size_t n, int bulk)
{
    sitr_digest_index_t *t = sitr_digest_index_new(16);
    assert_non_null(t);
    uint8_t *keys = malloc((n ? n : 1) * 16);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    assert_non_null(keys);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        memcpy(keys + 16 * i, dg[m->p[first + i].g], 16);
        ids[i] = m->p[first + i].id;
        if (!bulk)
            assert_int_equal(sitr_digest_index_insert(t, keys + 16 * i, ids[i]), 1);
    }
    if (bulk) {
        sitr_digest_part_t parts[2] = {{keys, ids, n}, {keys, ids, n}};
        assert_int_equal(sitr_digest_index_bulk_build(t, parts, 2), 0);
    }
    assert_int_equal(sitr_digest_index_size(t), n);
    free(keys);
    free(ids);
    return t;
}

static void dmodel_kill(dmodel_t *m, size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++)
        m->p[i].live = 0;
}

static size_t dmodel_live(const dmodel_t *m, size_t first, size_t n)
{
    size_t k = 0;
    for (size_t i = first; i < first + n; i++)
        k += m->p[i].live;
    return k;
}

static int drop_id_mod5(uint64_t id, void *arg)
{
    (void)arg;
    return id % 5 == 2;
}

static void test_digest_attach(void **state)
{
    (void)state;
    for (int g = 0; g < DG; g++)
        for (int b = 0; b < 16; b += 8) {
            uint64_t v = sitr_synth_next(&rng_state);
            memcpy(dg[g] + b, &v, 8);
        }
    dmodel_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    uint64_t id = 1;
    sitr_digest_index_t *d = sitr_digest_index_new(16);
    size_t own = dmodel_add(m, 3000, &id);
    for (size_t i = own; i < own + 3000; i++)
        assert_int_equal(sitr_digest_index_insert(d, dg[m->p[i].g], m->p[i].id), 1);
    /* Three attached tables: bulk built, filled by inserts, bulk built. */
    size_t first[3], cnt[3] = {4000, 1500, 2500};
    for (int k = 0; k < 3; k++) {
        first[k] = dmodel_add(m, cnt[k], &id);
        sitr_digest_index_t *t = dtable(m, first[k], cnt[k], k != 1);
        assert_int_equal(sitr_digest_index_attach(d, t, 1 + (uint64_t)k), 0);
    }
    check_digest(d, m);
    assert_true(sitr_digest_index_bytes(d) > 11000 * 24);

    /* Insert finds pairs of attached tables; remove reaches them. */
    const dpair_t *a = &m->p[first[1] + 7];
    assert_int_equal(sitr_digest_index_insert(d, dg[a->g], a->id), 0);
    assert_int_equal(sitr_digest_index_remove(d, dg[a->g], a->id), 1);
    assert_int_equal(sitr_digest_index_remove(d, dg[a->g], a->id), 0);
    dmodel_kill(m, first[1] + 7, 1);
    for (int k = 0; k < 400; k++) {
        size_t i = sitr_synth_next(&rng_state) % m->n;
        assert_int_equal(sitr_digest_index_remove(d, dg[m->p[i].g], m->p[i].id), m->p[i].live);
        m->p[i].live = 0;
    }
    size_t more = dmodel_add(m, 500, &id); /* into d's own table */
    for (size_t i = more; i < more + 500; i++)
        assert_int_equal(sitr_digest_index_insert(d, dg[m->p[i].g], m->p[i].id), 1);
    size_t expect = 0;
    for (size_t i = 0; i < m->n; i++)
        expect += m->p[i].live && m->p[i].id % 5 == 2;
    assert_int_equal(sitr_digest_index_remove_if(d, drop_id_mod5, NULL), expect);
    for (size_t i = 0; i < m->n; i++)
        m->p[i].live &= m->p[i].id % 5 != 2;
    uint64_t base = m->p[first[2] + 100].id & ~15ull;
    expect = 0;
    for (size_t i = 0; i < m->n; i++)
        expect += m->p[i].live && (m->p[i].id & ~15ull) == base;
    assert_int_equal(sitr_digest_index_remove_ids(d, base, ~15ull), expect);
    for (size_t i = 0; i < m->n; i++)
        m->p[i].live &= (m->p[i].id & ~15ull) != base;
    check_digest(d, m);

    /* Detach counts the pairs still there. */
    size_t live1 = dmodel_live(m, first[1], cnt[1]);
    assert_true(live1 > 0 && live1 < cnt[1]);
    assert_int_equal(sitr_digest_index_detach(d, 2), live1);
    assert_int_equal(sitr_digest_index_detach(d, 2), 0);
    assert_int_equal(sitr_digest_index_detach(d, 0), 0);
    assert_int_equal(sitr_digest_index_detach(d, 77), 0);
    dmodel_kill(m, first[1], cnt[1]);
    check_digest(d, m);

    /* Invalid attaches leave part with the caller. */
    sitr_digest_index_t *sha = sitr_digest_index_new(32);
    size_t f4 = dmodel_add(m, 600, &id);
    sitr_digest_index_t *t4 = dtable(m, f4, 600, 1);
    assert_int_equal(sitr_digest_index_attach(d, sha, 9), SITR_EINVAL);
    assert_int_equal(sitr_digest_index_attach(d, NULL, 9), SITR_EINVAL);
    assert_int_equal(sitr_digest_index_attach(d, d, 9), SITR_EINVAL);
    assert_int_equal(sitr_digest_index_attach(d, t4, 0), SITR_EINVAL);
    assert_int_equal(sitr_digest_index_attach(d, t4, 1), SITR_EINVAL); /* tag taken */
    sitr_digest_index_free(sha);
    assert_int_equal(sitr_digest_index_attach(d, t4, 4), 0);
    assert_int_equal(sitr_digest_index_attach(d, t4, 5), SITR_EINVAL); /* attached already */
    /* A table with attached tables of its own is refused. */
    sitr_digest_index_t *outer = sitr_digest_index_new(16), *inner = sitr_digest_index_new(16);
    assert_int_equal(sitr_digest_index_attach(outer, inner, 1), 0);
    assert_int_equal(sitr_digest_index_attach(d, outer, 6), SITR_EINVAL);
    sitr_digest_index_free(outer);
    check_digest(d, m);

    /* Attached: 1, 3, 4; then 5 fills the slots and 6 merges them. */
    size_t f5 = dmodel_add(m, 700, &id);
    assert_int_equal(sitr_digest_index_attach(d, dtable(m, f5, 700, 0), 5), 0);
    check_digest(d, m);
    size_t f6 = dmodel_add(m, 800, &id);
    assert_int_equal(sitr_digest_index_attach(d, dtable(m, f6, 800, 1), 6), 0);
    check_digest(d, m);
    assert_int_equal(sitr_digest_index_detach(d, 1), 0);
    assert_int_equal(sitr_digest_index_detach(d, 5), 0);
    assert_int_equal(sitr_digest_index_remove(d, dg[m->p[f6].g], m->p[f6].id), 1);
    dmodel_kill(m, f6, 1);
    assert_int_equal(sitr_digest_index_detach(d, 6), 799);
    dmodel_kill(m, f6, 800);
    check_digest(d, m);

    /* bulk_build replaces the attached tables. */
    size_t f7 = dmodel_add(m, 300, &id);
    assert_int_equal(sitr_digest_index_attach(d, dtable(m, f7, 300, 1), 7), 0);
    dmodel_kill(m, 0, m->n);
    size_t f8 = dmodel_add(m, 900, &id);
    sitr_digest_index_t *fresh = dtable(m, f8, 900, 0);
    uint8_t(*keys)[16] = malloc(900 * sizeof *keys);
    uint64_t *ids = malloc(900 * sizeof *ids);
    for (size_t i = 0; i < 900; i++) {
        memcpy(keys[i], dg[m->p[f8 + i].g], 16);
        ids[i] = m->p[f8 + i].id;
    }
    sitr_digest_part_t part = {&keys[0][0], ids, 900};
    assert_int_equal(sitr_digest_index_bulk_build(d, &part, 1), 0);
    assert_int_equal(sitr_digest_index_detach(d, 7), 0);
    check_digest(d, m);
    /* Freed with a table attached. */
    assert_int_equal(sitr_digest_index_remove_ids(fresh, 0, 0), 900);
    assert_int_equal(sitr_digest_index_attach(d, fresh, 8), 0);
    check_digest(d, m);
    sitr_digest_index_free(d);
    free(keys);
    free(ids);
    free(m);
}

/* Lookups of fixed pairs (d's own and a permanently attached table) while
 * the writer attaches, detaches and merges other tables: always found. */
typedef struct dig_reader {
    sitr_digest_index_t *d;
    const dmodel_t *m;
    size_t nfixed;
    _Atomic int *stop;
    int failures, rounds;
} dig_reader_t;

static void *dig_reader(void *p)
{
    dig_reader_t *a = p;
    uint64_t out[64];
    for (size_t k = 0; !atomic_load(a->stop) || a->rounds < 2000; k++, a->rounds++) {
        const dpair_t *x = &a->m->p[k % a->nfixed];
        size_t n = sitr_digest_index_lookup(a->d, dg[x->g], out, 64);
        int ok = 0;
        for (size_t i = 0; i < n && i < 64; i++)
            ok |= out[i] == x->id;
        a->failures += !ok;
    }
    return NULL;
}

static void test_digest_attach_concurrent(void **state)
{
    (void)state;
    dmodel_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    uint64_t id = 1;
    sitr_digest_index_t *d = sitr_digest_index_new(16);
    for (size_t i = dmodel_add(m, 2000, &id); i < 2000; i++)
        assert_int_equal(sitr_digest_index_insert(d, dg[m->p[i].g], m->p[i].id), 1);
    size_t fp = dmodel_add(m, 1000, &id);
    assert_int_equal(sitr_digest_index_attach(d, dtable(m, fp, 1000, 1), 1), 0);
    _Atomic int stop = 0;
    dig_reader_t ra[2] = {{d, m, 3000, &stop, 0, 0}, {d, m, 3000, &stop, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, dig_reader, &ra[i]), 0);
    size_t expect = 3000, merged = 0;
    for (uint64_t r = 0; r < 20; r++) {
        size_t f = dmodel_add(m, 400, &id);
        assert_int_equal(sitr_digest_index_attach(d, dtable(m, f, 400, r % 2), 100 + r), 0);
        expect += 400;
        if (r >= 3) {
            size_t gone = sitr_digest_index_detach(d, 100 + r - 3);
            assert_true(gone == 400 || gone == 0);
            expect -= gone;
            merged += gone == 0;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(ra[0].failures, 0);
    assert_int_equal(ra[1].failures, 0);
    assert_true(merged > 0);
    assert_int_equal(sitr_digest_index_size(d), expect);
    sitr_digest_index_free(d);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bulk_and_remove_if),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_clustered),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_auto_compaction),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_isa_variants),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_attach_search),
        cmocka_unit_test(test_attach_lifecycle),
        cmocka_unit_test(test_attach_concurrent),
        cmocka_unit_test(test_digest_attach),
        cmocka_unit_test(test_digest_attach_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
