/* `sitr-admin import --source NAME [--format F] [--skip-invalid]
 * [--pdq-quality N] [--wait SECONDS] FILE`: loads a partner's hash list as a
 * case owned by the source (migrations/0009_sources.sql), in two phases
 * (migrations/0012_staged_imports.sql, import_publish.c): stored as a
 * staged import that no one matches yet, then published once every live
 * replica prepared it (or --wait ran out).
 *
 * The file is read once, line by line, through a fixed buffer (a line
 * longer than IMPORT_LINE_MAX is refused without being held), each line
 * parsed and validated by import_parse.c and sent as a row of a binary COPY
 * into the session's staging table; then sitr_source_import adds what is
 * new in the same transaction, and COMMIT.  The source's import lock is
 * held from before that transaction until after the publication.  Transactional per file: by
 * default one refused line refuses the whole file (every refused line is reported with its number
 * and reason, nothing is written); with --skip-invalid the refused lines are reported and the
 * others imported.  A header that cannot be read, a file over IMPORT_FILE_MAX bytes or
 * IMPORT_LINES_MAX lines refuses the file whatever the options.  Re-importing a file adds nothing
 * (duplicates are counted).  Progress goes to stderr when it is a terminal; the summary to stdout.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "import_parse.h"

#define IMPORT_FILE_MAX     ((long long)16 << 30) /* bytes */
#define IMPORT_LINES_MAX    50000000LL
#define REPORT_MAX          50 /* refused lines listed one by one */
#define COPY_CHUNK          (1 << 20)
#define READ_CHUNK          (1 << 20)
#define IMPORT_WAIT_DEFAULT 120 /* seconds for the replicas to prepare */
#define IMPORT_WAIT_MAX     3600

/* ---- a bounded line reader --------------------------------------------- */

typedef struct reader {
    FILE *f;
    char *buf; /* READ_CHUNK + IMPORT_LINE_MAX + 2 */
    size_t len, pos;
    int eof;
    long long bytes;
} reader_t;

/* Next line (without its newline) into *line and *len; *too_long when the line was
 * longer than IMPORT_LINE_MAX (its bytes are skipped).  1, 0 at the end,
 * -1 on a read error. */
static int next_line(reader_t *r, const char **line, size_t *len, int *too_long)
{
    *too_long = 0;
    for (;;) {
        char *nl = r->pos < r->len ? memchr(r->buf + r->pos, '\n', r->len - r->pos) : NULL;
        if (nl || (r->eof && r->pos < r->len) || r->len - r->pos > IMPORT_LINE_MAX + 1) {
            size_t end = nl ? (size_t)(nl - r->buf) : r->len;
            if (!nl && !r->eof) {
                /* Longer than any accepted line: skip to its end. */
                *too_long = 1;
                r->pos = r->len = 0;
                for (;;) {
                    size_t n = fread(r->buf, 1, READ_CHUNK, r->f);
                    r->bytes += (long long)n;
                    if (n == 0) {
                        if (ferror(r->f))
                            return -1;
                        r->eof = 1;
                        break;
                    }
                    char *e = memchr(r->buf, '\n', n);
                    if (e) {
                        r->pos = (size_t)(e - r->buf) + 1;
                        r->len = n;
                        break;
                    }
                }
                *line = "";
                *len = 0;
                return 1;
            }
            *line = r->buf + r->pos;
            *len = end - r->pos;
            r->pos = nl ? end + 1 : end;
            return 1;
        }
        if (r->eof)
            return 0;
        /* Keep the partial line, read more behind it. */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
        size_t n = fread(r->buf + r->len, 1, READ_CHUNK, r->f);
        r->bytes += (long long)n;
        r->len += n;
        if (n == 0) {
            if (ferror(r->f))
                return -1;
            r->eof = 1;
        }
    }
}

/* ---- the COPY stream ---------------------------------------------------- */

typedef struct copybuf {
    uint8_t *p;
    size_t n;
} copybuf_t;

static void put16(copybuf_t *b, uint16_t v)
{
    b->p[b->n++] = (uint8_t)(v >> 8);
    b->p[b->n++] = (uint8_t)v;
}

static void put32(copybuf_t *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b, (uint16_t)v);
}

static void put_bytes(copybuf_t *b, const void *p, size_t n)
{
    put32(b, (uint32_t)n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* One staged row: line int8, pdq bytea, quality int2, md5 bytea, sha256
 * bytea, variants bytea (sitr_import_stage's columns). */
static void put_row(copybuf_t *b, long long line, const import_row_t *r)
{
    put16(b, 6);
    put32(b, 8);
    put32(b, (uint32_t)((unsigned long long)line >> 32));
    put32(b, (uint32_t)line);
    if (r->has_pdq) {
        put_bytes(b, r->pdq, 32);
        put32(b, 2);
        put16(b, (uint16_t)r->quality);
    } else {
        put32(b, UINT32_MAX);
        put32(b, UINT32_MAX);
    }
    if (r->has_md5)
        put_bytes(b, r->md5, 16);
    else
        put32(b, UINT32_MAX);
    if (r->has_sha)
        put_bytes(b, r->sha256, 32);
    else
        put32(b, UINT32_MAX);
    if (r->nvariants)
        put_bytes(b, r->variants, 32 * (size_t)r->nvariants);
    else
        put32(b, UINT32_MAX);
}

static int flush_copy(PGconn *c, copybuf_t *b)
{
    if (b->n && PQputCopyData(c, (const char *)b->p, (int)b->n) != 1) {
        fprintf(stderr, "sitr-admin: sending rows failed: %s", PQerrorMessage(c));
        return -1;
    }
    b->n = 0;
    return 0;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct run {
    long long lines, rows, refused, dropped;
    int fatal;
    int progress; /* stderr is a terminal */
    long long size;
    double last_progress;
} run_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_progress(run_t *run, const reader_t *r, int done)
{
    if (!run->progress)
        return;
    double t = now_s();
    if (!done && t - run->last_progress < 0.2)
        return;
    run->last_progress = t;
    if (run->size > 0) {
        int pct = (int)(100.0 * (double)r->bytes / (double)run->size);
        int bar = pct / 4;
        fprintf(stderr, "\r[%.*s%*s] %3d%%  %lld lines", bar, "#########################", 25 - bar,
                "", pct > 100 ? 100 : pct, run->lines);
    } else {
        fprintf(stderr, "\r%lld lines", run->lines);
    }
    if (done)
        fputc('\n', stderr);
}

static void report(run_t *run, long long line, const char *what, const char *reason)
{
    if (run->progress)
        fputc('\n', stderr), run->last_progress = 0;
    fprintf(stderr, "line %lld: %s: %s\n", line, what, reason);
}

/* Reads, parses and streams every line; the COPY is open on c. */
static int stream_file(const admin_opts_t *o, reader_t *rd, import_parser_t *p, PGconn *c,
                       run_t *run)
{
    copybuf_t b = {malloc(COPY_CHUNK + 1024), 0};
    if (!b.p)
        return -1;
    static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    memcpy(b.p, sig, sizeof sig);
    b.n = sizeof sig;
    put32(&b, 0);
    put32(&b, 0);
    const char *line;
    size_t len;
    int too_long, k, rc = 0;
    char reason[IMPORT_REASON_MAX];
    while ((k = next_line(rd, &line, &len, &too_long)) == 1) {
        run->lines++;
        if (run->lines > IMPORT_LINES_MAX || rd->bytes > IMPORT_FILE_MAX) {
            report(run, run->lines, "file refused",
                   run->lines > IMPORT_LINES_MAX ? "more than 50000000 lines"
                                                 : "larger than 16 GiB");
            run->fatal = 1;
            break;
        }
        import_row_t row;
        int pr = too_long ? IMPORT_REFUSED : import_parse_line(p, line, len, &row, reason);
        if (too_long)
            snprintf(reason, sizeof reason, "longer than %d bytes", IMPORT_LINE_MAX);
        if (pr == IMPORT_BAD_FILE) {
            report(run, run->lines, "file refused", reason);
            run->fatal = 1;
            break;
        }
        if (pr == IMPORT_REFUSED) {
            if (++run->refused <= REPORT_MAX)
                report(run, run->lines, "refused", reason);
        } else if (pr == IMPORT_ROW) {
            if (row.pdq_dropped && ++run->dropped <= REPORT_MAX)
                report(run, run->lines, "PDQ dropped",
                       "quality below 50 (too plain to match safely); its md5/sha256 kept");
            /* A refused file sends nothing more: it is rolled back anyway. */
            if (!(run->refused && !o->skip_invalid)) {
                put_row(&b, run->lines, &row);
                run->rows++;
                if (b.n >= COPY_CHUNK && (rc = flush_copy(c, &b)) < 0)
                    break;
            }
        }
        if ((run->lines & 4095) == 0)
            show_progress(run, rd, 0);
    }
    if (k < 0) {
        fprintf(stderr, "sitr-admin: reading the file failed: %s\n", strerror(errno));
        rc = -1;
    }
    show_progress(run, rd, 1);
    if (rc == 0) {
        put16(&b, UINT16_MAX); /* the trailer: -1 */
        rc = flush_copy(c, &b);
    }
    free(b.p);
    return rc;
}

/* Ends the COPY (errmsg NULL: commit the rows to the staging table). */
static int end_copy(PGconn *c, const char *errmsg)
{
    int rc = PQputCopyEnd(c, errmsg) == 1 ? 0 : -1;
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        if (!errmsg && PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "sitr-admin: staging the rows failed: %s", PQerrorMessage(c));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

static int all_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* A whole number from lo to hi. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || end == s || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int admin_import(const admin_opts_t *o, const char *path)
{
    import_format_t fmt = IMPORT_FMT_AUTO;
    int assumed = 0;
    if (!o->source || !admin_valid_name(o->source)) {
        fprintf(stderr, "sitr-admin: import needs --source NAME (1-64 characters: letters, "
                        "digits, and . _ - after the first)\n");
        return ADMIN_USAGE;
    }
    if (o->format && import_format_parse(o->format, &fmt) < 0) {
        fprintf(stderr, "sitr-admin: --format is auto, csv, jsonl, hma or te\n");
        return ADMIN_USAGE;
    }
    if (o->pdq_quality && parse_int(o->pdq_quality, 50, 100, &assumed) < 0) {
        fprintf(stderr, "sitr-admin: --pdq-quality is a whole number from 50 to 100\n");
        return ADMIN_USAGE;
    }
    int wait_s = IMPORT_WAIT_DEFAULT;
    if (o->wait && parse_int(o->wait, 0, IMPORT_WAIT_MAX, &wait_s) < 0) {
        fprintf(stderr, "sitr-admin: --wait is a whole number of seconds from 0 to %d\n",
                IMPORT_WAIT_MAX);
        return ADMIN_USAGE;
    }
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sitr-admin: cannot open %s: %s\n", path, strerror(errno));
        return ADMIN_FAIL;
    }
    run_t run = {0};
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        run.size = (long long)st.st_size;
        if (run.size > IMPORT_FILE_MAX) {
            fprintf(stderr, "sitr-admin: %s is larger than 16 GiB: refused\n", path);
            if (f != stdin)
                fclose(f);
            return ADMIN_FAIL;
        }
    }
    run.progress = isatty(STDERR_FILENO);
    reader_t rd = {f, malloc(READ_CHUNK + IMPORT_LINE_MAX + 2), 0, 0, 0, 0};
    PGconn *c = NULL;
    int rc = ADMIN_FAIL;
    if (!rd.buf)
        goto out;
    if (fmt == IMPORT_FMT_AUTO && f == stdin) {
        fprintf(stderr, "sitr-admin: reading from stdin needs --format\n");
        rc = ADMIN_USAGE;
        goto out;
    }
    if (fmt == IMPORT_FMT_AUTO) {
        /* The first non-blank line decides; it is read again below. */
        const char *line;
        size_t len;
        int too_long, k;
        while ((k = next_line(&rd, &line, &len, &too_long)) == 1 && !too_long &&
               all_blank(line, len))
            ;
        if (k == 1 && !too_long) {
            char *first = strndup(line, len);
            if (first)
                fmt = import_format_detect(first);
            free(first);
        }
        if (fmt == IMPORT_FMT_AUTO) {
            fprintf(stderr,
                    "sitr-admin: cannot tell the format of %s: give --format csv, "
                    "jsonl, hma or te\n",
                    path);
            rc = ADMIN_USAGE;
            goto out;
        }
        rewind(f);
        rd.len = rd.pos = 0;
        rd.eof = 0;
        rd.bytes = 0;
    }
    import_parser_t p;
    import_parser_init(&p, fmt, assumed);
    if (!(c = admin_connect(o)))
        goto out;
    if (admin_import_lock(c, o->source) < 0 || admin_import_discard(c, o->source) < 0)
        goto out;
    if (admin_cmd(c, "BEGIN", 0, NULL) < 0 ||
        admin_cmd(c, "SELECT sitr_import_stage()", 0, NULL) < 0)
        goto out;
    PGresult *r = PQexec(c, "COPY sitr_import_rows (line, pdq, quality, md5, sha256, variants) "
                            "FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "sitr-admin: database error: %s", PQerrorMessage(c));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    double t0 = now_s();
    int srx = stream_file(o, &rd, &p, c, &run);
    int refused_file = run.fatal || (run.refused && !o->skip_invalid);
    if (srx < 0 || refused_file) {
        end_copy(c, "import refused");
        if (srx == 0) {
            if (run.refused > REPORT_MAX)
                fprintf(stderr, "... and %lld more refused lines\n", run.refused - REPORT_MAX);
            printf("%s: refused, nothing imported (%lld lines read, %lld refused%s)\n", path,
                   run.lines, run.refused,
                   run.fatal ? "" : "; --skip-invalid imports the other lines");
        }
        goto out;
    }
    if (end_copy(c, NULL) < 0)
        goto out;
    double t1 = now_s();
    char lines[24], refused[24];
    snprintf(lines, sizeof lines, "%lld", run.lines);
    snprintf(refused, sizeof refused, "%lld", run.refused);
    const char *v[] = {o->source, import_format_name(fmt), lines, refused};
    r = PQexecParams(c,
                     "SELECT case_id, added, duplicates FROM "
                     "sitr_source_import($1, $2, $3::bigint, $4::bigint)",
                     4, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "SIT04") == 0)
            fprintf(stderr, "sitr-admin: source '%s' was withdrawn; import under another name\n",
                    o->source);
        else
            fprintf(stderr, "sitr-admin: database error: %s", PQerrorMessage(c));
        PQclear(r);
        goto out;
    }
    long long added = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    long long dups = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    char case_id[24];
    snprintf(case_id, sizeof case_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    admin_import_signals(1);
    if (admin_cmd(c, "COMMIT", 0, NULL) < 0)
        goto out;
    double t2 = now_s();
    char phases[128] = "nothing to publish";
    if (added > 0) {
        admin_publish_t pub;
        if (admin_import_publish(c, o->source, case_id, wait_s, run.progress, &pub) < 0) {
            rc = ADMIN_FAIL;
            goto out;
        }
        admin_publish_describe(&pub, phases, sizeof phases);
    }
    if (run.refused > REPORT_MAX)
        fprintf(stderr, "... and %lld more refused lines\n", run.refused - REPORT_MAX);
    if (run.dropped > REPORT_MAX)
        fprintf(stderr, "... and %lld more PDQs dropped\n", run.dropped - REPORT_MAX);
    printf("%s: %lld lines (%s) into source '%s' in %.1f s (read %.1f s, stored %.1f s, %s)\n"
           "  added       %lld\n"
           "  duplicates  %lld\n"
           "  refused     %lld\n",
           path, run.lines, import_format_name(fmt), o->source, now_s() - t0, t1 - t0, t2 - t1,
           phases, added, dups, run.refused);
    if (run.dropped)
        printf("  PDQs dropped (quality below 50, md5/sha256 kept) %lld\n", run.dropped);
    rc = ADMIN_OK;
out:
    admin_import_signals(0);
    if (c) {
        if (rc != ADMIN_OK)
            PQclear(PQexec(c, "ROLLBACK"));
        PQfinish(c);
    }
    free(rd.buf);
    if (f != stdin)
        fclose(f);
    return rc;
}
