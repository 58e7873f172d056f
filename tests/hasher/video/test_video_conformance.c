/* vPDQ conformance: sitr's video hashes against Meta's reference.
 *
 * Always on the vendored subset (tests/data/vpdq, three videos), and on the
 * extended corpus (SITR_SHARED_DIR/testdata/vpdq, fourteen videos) when it
 * is present:
 *  - ref-debian12 *.s0.txt / *.s1.txt (the reference built on this very
 *    FFmpeg): every line byte for byte (frame number, quality, hash,
 *    timestamp %.3f), so any drift fails;
 *  - Meta's sample-hashes: frame numbers, timestamps and counts identical,
 *    distance < 31 where both qualities are >= 50 (Meta's tolerance), and
 *    the count of exactly equal hashes equal to ref-debian12/agreement.csv
 *    (the reference's own figure on this machine);
 *  - match-pairs.csv: the percentages of both rules (C++ < 31, no dedupe;
 *    python-threatexchange dedupe, <= 31, quality >= 50) and the decision
 *    query % >= 80, recomputed from sitr's hashes. */
#include "video_support.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct hashed {
    char *name;
    sitr_video_t *s[2]; /* secondsPerHash 0 and 1 */
} hashed_t;

/* Every line of the reference's file for (name, s) equals sitr's. */
static void check_ref(const char *dir, const hashed_t *h, int s, size_t *frames)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/ref-debian12/%s.s%d.txt", dir, h->name, s);
    vref_line_t *ref;
    int n = vref_load(p, &ref);
    assert_true(n > 0);
    const sitr_video_t *v = h->s[s];
    if ((size_t)n != v->count)
        print_error("%s s%d: %zu frames, reference %d\n", h->name, s, v->count, n);
    assert_int_equal(v->count, (size_t)n);
    for (int i = 0; i < n; i++) {
        char line[SITR_VIDEO_LINE_MAX + 1];
        int len = sitr_video_format_line(&v->frames[i], line, sizeof(line) - 1);
        assert_true(len > 0);
        line[len] = '\0';
        if (strcmp(line, ref[i].text) != 0)
            print_error("%s s%d line %d:\n  sitr %s  ref  %s", h->name, s, i + 1, line,
                        ref[i].text);
        assert_string_equal(line, ref[i].text);
    }
    *frames += (size_t)n;
    free(ref);
}

/* Reads agreement.csv's "exact" and "max_ham_q50" for one sample file. */
static int agreement(const char *dir, const char *name, int *exact, int *max_q50)
{
    char p[1024], want[300], buf[1024];
    snprintf(p, sizeof(p), "%s/ref-debian12/agreement.csv", dir);
    snprintf(want, sizeof(want), "%s.txt,", name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int found = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        if (strncmp(buf, want, strlen(want)) != 0)
            continue;
        /* sample_file,frames_meta,frames_ref,equal,exact,exact_pct,max_ham,mean_ham,
           frames_q50_both,max_ham_q50,... */
        char *fld[12];
        int k = 0;
        for (char *t = strtok(buf, ","); t && k < 12; t = strtok(NULL, ","))
            fld[k++] = t;
        assert_true(k >= 10);
        *exact = atoi(fld[4]);
        *max_q50 = atoi(fld[9]);
        found = 1;
    }
    fclose(f);
    return found;
}

/* sitr's every-frame hashes against Meta's sample-hashes. */
static void check_sample(const char *dir, const hashed_t *h, size_t *frames, size_t *exact_all)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/sample-hashes/%s.txt", dir, h->name);
    vref_line_t *meta;
    int n = vref_load(p, &meta);
    if (n < 0)
        return; /* no sample file for this video */
    const sitr_video_t *v = h->s[0];
    assert_int_equal(v->count, (size_t)n);
    int exact = 0, max_q50 = 0;
    for (int i = 0; i < n; i++) {
        const sitr_video_frame_t *f = &v->frames[i];
        char line[SITR_VIDEO_LINE_MAX + 1];
        int len = sitr_video_format_line(f, line, sizeof(line) - 1);
        assert_true(len > 0);
        line[len] = '\0';
        /* Frame number and timestamp: the first and last fields. */
        assert_int_equal(f->number, meta[i].n);
        assert_string_equal(strrchr(line, ','), strrchr(meta[i].text, ','));
        int d = sitr_pdq_distance(&f->pdq.hash, &meta[i].hash);
        exact += d == 0;
        if (f->pdq.quality >= 50 && meta[i].quality >= 50) {
            assert_true(d < 31);
            if (d > max_q50)
                max_q50 = d;
        }
    }
    int ref_exact, ref_max;
    assert_true(agreement(dir, h->name, &ref_exact, &ref_max));
    print_message("  %-32s %4d frames, %4d exact (reference %d), max distance q>=50 %d "
                  "(reference %d)\n",
                  h->name, n, exact, ref_exact, max_q50, ref_max);
    assert_int_equal(exact, ref_exact);
    assert_int_equal(max_q50, ref_max);
    *frames += (size_t)n;
    *exact_all += (size_t)exact;
    free(meta);
}

/* Percentages of SPEC.md §7.1 (cpp: < 31, no dedupe) or §7.3 (pytx:
 * dedupe, <= 31), quality >= 50 on both sides.  Returns 0 when a side has
 * no usable frame. */
static int pct(const sitr_video_t *q, const sitr_video_t *c, int pytx, double *out)
{
    size_t nq = 0, hit = 0;
    for (size_t i = 0; i < q->count; i++) {
        const sitr_video_frame_t *a = &q->frames[i];
        if (a->pdq.quality < 50)
            continue;
        if (pytx) {
            int dup = 0;
            for (size_t j = 0; j < i && !dup; j++)
                dup = memcmp(&q->frames[j].pdq.hash, &a->pdq.hash, sizeof(sitr_pdq_t)) == 0;
            if (dup)
                continue;
        }
        nq++;
        for (size_t j = 0; j < c->count; j++) {
            const sitr_video_frame_t *b = &c->frames[j];
            if (b->pdq.quality < 50)
                continue;
            int d = sitr_pdq_distance(&a->pdq.hash, &b->pdq.hash);
            if (pytx ? d <= 31 : d < 31) {
                hit++;
                break;
            }
        }
    }
    if (nq == 0)
        return 0;
    *out = 100.0 * (double)hit / (double)nq;
    return 1;
}

static const hashed_t *find(const hashed_t *hs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(hs[i].name, name) == 0)
            return &hs[i];
    return NULL;
}

static void check_pairs(const char *dir, const hashed_t *hs, size_t nh, size_t *rows_out)
{
    char p[1024], buf[1024];
    snprintf(p, sizeof(p), "%s/ref-debian12/match-pairs.csv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t rows = 0, yes = 0;
    assert_non_null(fgets(buf, sizeof(buf), f)); /* header */
    while (fgets(buf, sizeof(buf), f) != NULL) {
        char qn[200], cn[200];
        int s;
        double cq, cc, pq, pc;
        assert_int_equal(
            sscanf(buf, "%199[^,],%199[^,],s%d,%lf,%lf,%lf,%lf", qn, cn, &s, &cq, &cc, &pq, &pc),
            7);
        const hashed_t *q = find(hs, nh, qn), *c = find(hs, nh, cn);
        assert_non_null(q);
        assert_non_null(c);
        double got[4] = {0, 0, 0, 0};
        /* A side without usable frames leaves 0, as the reference prints. */
        (void)pct(q->s[s], c->s[s], 0, &got[0]);
        (void)pct(c->s[s], q->s[s], 0, &got[1]);
        (void)pct(q->s[s], c->s[s], 1, &got[2]);
        (void)pct(c->s[s], q->s[s], 1, &got[3]);
        const double want[4] = {cq, cc, pq, pc};
        for (int k = 0; k < 4; k++) {
            if (fabs(got[k] - want[k]) > 0.006)
                print_error("%s vs %s s%d field %d: %.2f, reference %.2f\n", qn, cn, s, k, got[k],
                            want[k]);
            assert_true(fabs(got[k] - want[k]) <= 0.006);
        }
        /* The decision (SPEC §7.3): query % >= 80. */
        assert_int_equal(got[2] >= 80.0, pq >= 80.0);
        yes += pq >= 80.0;
        rows++;
    }
    fclose(f);
    print_message("  match-pairs: %zu rows reproduced, %zu matches (query %% >= 80)\n", rows, yes);
    *rows_out = rows;
}

static void run_corpus(const char *dir, size_t want_videos)
{
    char **names;
    size_t n = vlist_videos(dir, &names);
    assert_int_equal(n, want_videos);
    hashed_t *hs = calloc(n, sizeof(*hs));
    assert_non_null(hs);
    for (size_t i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof(p), "%s/videos/%s.mp4", dir, names[i]);
        hs[i].name = names[i];
        hs[i].s[0] = vhash(p, 0, 0, 0);
        hs[i].s[1] = vhash(p, 1, 0, 0);
    }
    size_t ref_frames = 0, sample_frames = 0, sample_exact = 0, rows = 0;
    for (size_t i = 0; i < n; i++) {
        check_ref(dir, &hs[i], 0, &ref_frames);
        check_ref(dir, &hs[i], 1, &ref_frames);
    }
    print_message("  ref-debian12: %zu videos, %zu lines (s0 + s1), all byte-identical\n", n,
                  ref_frames);
    for (size_t i = 0; i < n; i++)
        check_sample(dir, &hs[i], &sample_frames, &sample_exact);
    print_message("  sample-hashes: %zu frames, %zu exactly equal (%.1f %%)\n", sample_frames,
                  sample_exact, 100.0 * (double)sample_exact / (double)sample_frames);
    check_pairs(dir, hs, n, &rows);
    assert_true(rows > 0);
    for (size_t i = 0; i < n; i++) {
        sitr_video_free(hs[i].s[0]);
        sitr_video_free(hs[i].s[1]);
        free(hs[i].name);
    }
    free(hs);
    free(names);
}

static void test_vendored(void **state)
{
    (void)state;
    run_corpus(vdata_dir(), 3);
}

static void test_extended(void **state)
{
    (void)state;
    if (!vext_present()) {
        print_message("skipped: extended corpus not present\n");
        return;
    }
    run_corpus(vext_dir(), 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vendored),
        cmocka_unit_test(test_extended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
