/* reliability-populate: fills a migrated sitr database with N stored case
 * PDQs for the reliability load runs (tools/reliability/load,
 * docs/RELIABILITY.md), and writes the /v1/match request bodies those runs
 * send, whose right answers are known.
 *
 *   reliability-populate DATABASE_URL N OUTDIR [--per-case K] [--seed S]
 *
 * The rows go through the real schema (the tables, indexes and every CHECK
 * of migrations/; no function and no change log: a replica's start-up load
 * reads the tables; the foreign-key triggers are skipped for this one
 * transaction, the rows being valid by construction), as two binary COPY
 * streams in one transaction: N/K
 * cases (K images each, default 5) and N case images, each with a uniformly
 * random PDQ of quality 90 from tools/pdq_synth.c (seeded, so a run can be
 * repeated), then VACUUM ANALYZE.  No dihedral variants: N is the number of
 * entries the case index holds.
 *
 * While streaming it keeps a sample of the stored hashes and writes, in
 * OUTDIR:
 *   match1.jsonl   1,024 one-item bodies, each a stored PDQ with 0..31 bits
 *                  flipped (every answer must say matched:true once);
 *   match64.jsonl  256 bodies of 64 items: 32 such near copies and 32
 *                  random PDQs (every answer: 32 matched:true, 32 false).
 * A random 256-bit PDQ is within 31 bits of another random one with a
 * probability under 2^-150, so the misses stay misses at any N here.
 *
 * Prints the rows written, the COPY and VACUUM times.  Not a test; single
 * threaded; synchronous libpq (a tool, not the event loop). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pdq_synth.h"

#define SAMPLE_MAX 4096
#define BODIES_1   1024
#define BODIES_64  256
#define COPY_CHUNK (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A binary COPY stream being written: rows are packed into buf and sent in
 * chunks of about COPY_CHUNK bytes. */
typedef struct copybuf {
    PGconn *c;
    unsigned char *buf;
    size_t len;
    int failed;
} copybuf_t;

static void put(copybuf_t *b, const void *p, size_t n)
{
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static void put_u16(copybuf_t *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 2);
}

static void put_u32(copybuf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}

static void put_i64(copybuf_t *b, int64_t v)
{
    put_u32(b, (uint32_t)((uint64_t)v >> 32));
    put_u32(b, (uint32_t)v);
}

/* A field: its length, then its bytes. */
static void put_field(copybuf_t *b, const void *p, uint32_t n)
{
    put_u32(b, n);
    put(b, p, n);
}

static void flush_some(copybuf_t *b, int force)
{
    if (b->failed || (!force && b->len < COPY_CHUNK))
        return;
    if (b->len && PQputCopyData(b->c, (const char *)b->buf, (int)b->len) != 1) {
        fprintf(stderr, "reliability-populate: COPY: %s", PQerrorMessage(b->c));
        b->failed = 1;
    }
    b->len = 0;
}

static int exec_ok(PGconn *c, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == want;
    if (!ok)
        fprintf(stderr, "reliability-populate: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static int copy_begin(copybuf_t *b, const char *sql)
{
    if (!exec_ok(b->c, sql, PGRES_COPY_IN))
        return -1;
    static const unsigned char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    put(b, sig, sizeof sig);
    put_u32(b, 0); /* flags */
    put_u32(b, 0); /* header extension */
    return 0;
}

static int copy_end(copybuf_t *b)
{
    put_u16(b, 0xffff); /* trailer: -1 */
    flush_some(b, 1);
    if (PQputCopyEnd(b->c, b->failed ? "client failed" : NULL) != 1) {
        fprintf(stderr, "reliability-populate: COPY end: %s", PQerrorMessage(b->c));
        return -1;
    }
    PGresult *r;
    int ok = !b->failed;
    while ((r = PQgetResult(b->c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "reliability-populate: COPY: %s", PQresultErrorMessage(r));
            ok = 0;
        }
        PQclear(r);
    }
    return ok ? 0 : -1;
}

static long long scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoll(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "reliability-populate: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return v;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One item {"pdq":...,"quality":90} into f: a sample with 0..31 bits
 * flipped when near, else a fresh random hash. */
static void write_item(FILE *f, uint64_t *rng, const sitr_pdq_t *sample, size_t nsample, int near)
{
    sitr_pdq_t h;
    if (near) {
        h = sample[sitr_synth_next(rng) % nsample];
        sitr_synth_flip_bits(rng, &h, (int)(sitr_synth_next(rng) % 32));
    } else {
        sitr_synth_hash(rng, &h);
    }
    char x[2 * SITR_PDQ_BYTES + 1];
    hex(h.b, SITR_PDQ_BYTES, x);
    fprintf(f, "{\"pdq\":\"%s\",\"quality\":90}", x);
}

static int write_bodies(const char *dir, uint64_t seed, const sitr_pdq_t *sample, size_t nsample)
{
    char path[4096];
    uint64_t rng = seed ^ 0x9e3779b97f4a7c15ull;
    snprintf(path, sizeof path, "%s/match1.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < BODIES_1; i++) {
        fputs("{\"items\":[", f);
        write_item(f, &rng, sample, nsample, 1);
        fputs("]}\n", f);
    }
    if (fclose(f) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/match64.jsonl", dir);
    f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < BODIES_64; i++) {
        /* 32 near copies and 32 random hashes, in a shuffled order. */
        int near[64];
        for (int k = 0; k < 64; k++)
            near[k] = k < 32;
        for (int k = 63; k > 0; k--) {
            int r = (int)(sitr_synth_next(&rng) % (uint64_t)(k + 1)), t = near[k];
            near[k] = near[r];
            near[r] = t;
        }
        fputs("{\"items\":[", f);
        for (int k = 0; k < 64; k++) {
            if (k)
                fputc(',', f);
            write_item(f, &rng, sample, nsample, near[k]);
        }
        fputs("]}\n", f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: reliability-populate DATABASE_URL N OUTDIR [--per-case K] "
                    "[--seed S]\n");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        usage();
        return 2;
    }
    const char *url = argv[1], *dir = argv[3];
    char *end = NULL;
    long long n = strtoll(argv[2], &end, 10);
    long long per = 5;
    uint64_t seed = 0x5172c0de5172c0deull;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--per-case") == 0)
            per = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 0) | 1;
        else {
            usage();
            return 2;
        }
    }
    if (!end || *end || n < 1 || n > 100000000LL || per < 1 || per > 1000 || argc % 2) {
        usage();
        return 2;
    }
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "reliability-populate: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    copybuf_t b = {.c = c, .buf = malloc(COPY_CHUNK + 4096)};
    sitr_pdq_t *sample = malloc(SAMPLE_MAX * sizeof *sample);
    if (!b.buf || !sample) {
        fprintf(stderr, "reliability-populate: out of memory\n");
        return 1;
    }
    double t0 = now_s();
    long long first_case = scalar(c, "SELECT coalesce(max(id), 0) + 1 FROM cases");
    long long first_image = scalar(c, "SELECT coalesce(max(id), 0) + 1 FROM case_images");
    /* Foreign keys are checked by triggers; the rows are valid by
     * construction (each image's case is in the same transaction), so the
     * per-row lookup is skipped for this transaction only.  Every CHECK
     * constraint and index still applies. */
    if (first_case < 1 || first_image < 1 || !exec_ok(c, "BEGIN", PGRES_COMMAND_OK) ||
        !exec_ok(c, "SET LOCAL session_replication_role = replica", PGRES_COMMAND_OK))
        return 1;
    long long ncases = (n + per - 1) / per;
    uint64_t rng = seed;

    if (copy_begin(&b, "COPY cases (id, reference, secret_digest) FROM STDIN (FORMAT binary)") < 0)
        return 1;
    for (long long i = 0; i < ncases && !b.failed; i++) {
        char ref[32];
        int rl = snprintf(ref, sizeof ref, "rel-%012lld", first_case + i);
        sitr_pdq_t digest; /* 32 random bytes: no secret opens these cases */
        sitr_synth_hash(&rng, &digest);
        put_u16(&b, 3);
        put_u32(&b, 8);
        put_i64(&b, first_case + i);
        put_field(&b, ref, (uint32_t)rl);
        put_field(&b, digest.b, SITR_PDQ_BYTES);
        flush_some(&b, 0);
    }
    if (copy_end(&b) < 0)
        return 1;

    size_t stride = (size_t)(n / SAMPLE_MAX) + 1, nsample = 0;
    if (copy_begin(&b, "COPY case_images (id, case_id, pdq, quality) FROM STDIN (FORMAT binary)") <
        0)
        return 1;
    for (long long i = 0; i < n && !b.failed; i++) {
        sitr_pdq_t h;
        sitr_synth_hash(&rng, &h);
        if ((size_t)i % stride == 0 && nsample < SAMPLE_MAX)
            sample[nsample++] = h;
        put_u16(&b, 4);
        put_u32(&b, 8);
        put_i64(&b, first_image + i);
        put_u32(&b, 8);
        put_i64(&b, first_case + i / per);
        put_field(&b, h.b, SITR_PDQ_BYTES);
        put_u32(&b, 2);
        put_u16(&b, 90);
        flush_some(&b, 0);
    }
    if (copy_end(&b) < 0)
        return 1;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT setval('cases_id_seq', %lld), setval('case_images_id_seq', %lld)",
             first_case + ncases - 1, first_image + n - 1);
    if (!exec_ok(c, sql, PGRES_TUPLES_OK) || !exec_ok(c, "COMMIT", PGRES_COMMAND_OK))
        return 1;
    double t1 = now_s();
    if (!exec_ok(c, "VACUUM (ANALYZE) cases, case_images", PGRES_COMMAND_OK))
        return 1;
    double t2 = now_s();
    PQfinish(c);
    free(b.buf);
    if (write_bodies(dir, seed, sample, nsample) < 0) {
        fprintf(stderr, "reliability-populate: cannot write the bodies in %s\n", dir);
        return 1;
    }
    free(sample);
    printf("populated %lld case PDQs in %lld cases: COPY %.1f s, VACUUM ANALYZE %.1f s, "
           "total %.1f s\n",
           n, ncases, t1 - t0, t2 - t1, t2 - t0);
    return 0;
}
