/* The line parsers of `sitr-admin import` (see import_parse.h).
 *
 * The four formats, checked against their sources:
 *  - csv: our own; its header names the columns.  `sitr hash --format csv`
 *    output is accepted as it is (path is ignored; orig..flipminus1 are the
 *    dihedral PDQs; a row with a frame number is a video frame and is
 *    refused).
 *  - jsonl: `sitr hash --format jsonl` (hasher/cli/output.c): {"type":
 *    "image", "path", "pdq", "quality", "dihedral": [8 PDQs, orig first],
 *    "md5", "sha256"}; a {"path", "error"} line (a file the hasher could not
 *    read) and a {"type": "video"} line are refused with that reason.
 *  - hma: Hasher-Matcher-Actioner 2.x (OpenMediaMatch) bank content, one
 *    JSON object per line: the answer of GET /c/bank/<bank>/content/<id>
 *    ?include_signals=true ({"id", ..., "signals": {"pdq": hex, "md5":
 *    hex}}) or the body of POST /c/bank/<bank>/signal ({"pdq": hex}), as
 *    in curation.py.  Signal types other than pdq and md5 are refused.
 *  - te: ThreatExchange's descriptor table, tab-separated with a header
 *    (the td_* columns of TE's bulk upload and of te-tag-query's output):
 *    td_indicator_type (HASH_PDQ, HASH_MD5, HASH_SHA256) and
 *    td_raw_indicator are read, the other columns ignored.
 * HMA and ThreatExchange carry no PDQ quality: their PDQs need the
 * operator's --pdq-quality (import.c) and are refused without it. */
#include "import_parse.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sitr/hex.h>

#define MIN_QUALITY 50

enum {
    COL_IGNORE = 0,
    COL_PDQ,
    COL_QUALITY,
    COL_MD5,
    COL_SHA256,
    COL_FRAME,
    COL_TE_TYPE,
    COL_TE_RAW,
    COL_DIHEDRAL /* + 0..7: orig .. flipminus1 */
};

static const char *const dihedral_names[8] = {"orig",  "rot90", "rot180",    "rot270",
                                              "flipx", "flipy", "flipplus1", "flipminus1"};

static const char *const format_names[] = {"auto", "csv", "jsonl", "hma", "te"};

int import_format_parse(const char *s, import_format_t *out)
{
    for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *out = (import_format_t)i;
            return 0;
        }
    }
    return -1;
}

const char *import_format_name(import_format_t f)
{
    return f >= IMPORT_FMT_AUTO && f <= IMPORT_FMT_TE ? format_names[f] : "?";
}

void import_parser_init(import_parser_t *p, import_format_t f, int assumed_quality)
{
    memset(p, 0, sizeof *p);
    p->format = f;
    p->assumed_quality = assumed_quality;
}

static int refuse(char reason[IMPORT_REASON_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int refuse(char reason[IMPORT_REASON_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, IMPORT_REASON_MAX, fmt, ap);
    va_end(ap);
    return IMPORT_REFUSED;
}

/* ---- fields and hashes ------------------------------------------------- */

typedef struct span {
    const char *p;
    size_t n;
} span_t;

static span_t trim(span_t s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
        s.p++, s.n--;
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

static int span_is(span_t s, const char *word)
{
    size_t n = strlen(word);
    if (s.n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return 0;
    }
    return 1;
}

/* Splits a line into fields at sep, RFC 4180 quoting (a quoted field may
 * hold sep and doubled quotes; its span is the text between the quotes).
 * Returns the number of fields, or -1 with reason filled. */
static int split_fields(const char *line, size_t len, char sep, span_t *f, int max,
                        char reason[IMPORT_REASON_MAX])
{
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n == max)
            return refuse(reason, "more than %d columns", max);
        size_t start = i;
        while (start < len && (line[start] == ' ' || line[start] == '\t') && line[start] != sep)
            start++;
        if (start < len && line[start] == '"') {
            size_t j = start + 1;
            for (;;) {
                if (j >= len)
                    return refuse(reason, "a quoted field is not closed (a line break inside "
                                          "quotes is not accepted)");
                if (line[j] == '"') {
                    if (j + 1 < len && line[j + 1] == '"') {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j++;
            }
            f[n].p = line + start + 1;
            f[n].n = j - start - 1;
            i = j + 1;
            while (i < len && line[i] != sep && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i < len && line[i] != sep)
                return refuse(reason, "text after a closing quote");
        } else {
            size_t j = i;
            while (j < len && line[j] != sep)
                j++;
            f[n] = trim((span_t){line + i, j - i});
            i = j;
        }
        n++;
        if (i >= len)
            return n;
        i++; /* the separator */
    }
}

/* Decodes a hex field of nbytes: 1 (decoded), 0 (empty), or refused. */
static int hex_field(span_t s, uint8_t *out, size_t nbytes, const char *what,
                     char reason[IMPORT_REASON_MAX])
{
    s = trim(s);
    if (s.n == 0)
        return 0;
    if (s.n != 2 * nbytes || sitr_hex_decode(s.p, s.n, out, nbytes) < 0)
        return refuse(reason, "%s is not %zu hex digits", what, 2 * nbytes);
    return 1;
}

/* 0..100 -> value; -1 empty; refused otherwise. */
static int quality_field(span_t s, int *out, char reason[IMPORT_REASON_MAX])
{
    s = trim(s);
    if (s.n == 0) {
        *out = -1;
        return 0;
    }
    int v = 0;
    if (s.n > 3)
        return refuse(reason, "quality is not a whole number from 0 to 100");
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return refuse(reason, "quality is not a whole number from 0 to 100");
        v = v * 10 + (s.p[i] - '0');
    }
    if (v > 100)
        return refuse(reason, "quality is not a whole number from 0 to 100");
    *out = v;
    return 0;
}

/* Adds a dihedral PDQ unless it is the image's own or already there. */
static int add_variant(import_row_t *r, const uint8_t v[32], char reason[IMPORT_REASON_MAX])
{
    if (r->has_pdq && memcmp(v, r->pdq, 32) == 0)
        return 0;
    for (int i = 0; i < r->nvariants; i++)
        if (memcmp(v, r->variants[i], 32) == 0)
            return 0;
    if (r->nvariants == 7)
        return refuse(reason, "more than 7 dihedral variants besides the PDQ");
    memcpy(r->variants[r->nvariants++], v, 32);
    return 0;
}

/* The rules every format shares, as /v1/cases applies them: a PDQ needs
 * its quality (the format's, or the operator's --pdq-quality); quality
 * without a PDQ is refused; a PDQ below 50 is dropped when the line has an
 * MD5 or SHA-256 and the line refused otherwise; a line needs a hash. */
static int finish_row(const import_parser_t *p, import_row_t *r, int quality, int has_variants,
                      char reason[IMPORT_REASON_MAX])
{
    if (!r->has_pdq && quality >= 0)
        return refuse(reason, "quality without a PDQ");
    if (!r->has_pdq && has_variants)
        return refuse(reason, "dihedral variants without a PDQ");
    if (r->has_pdq && quality < 0) {
        if (p->format == IMPORT_FMT_HMA || p->format == IMPORT_FMT_TE) {
            if (!p->assumed_quality)
                return refuse(reason, "a PDQ without quality (this format has none: give "
                                      "--pdq-quality N if the list's PDQs are that good)");
            quality = p->assumed_quality;
        } else {
            return refuse(reason, "a PDQ needs its quality (0 to 100)");
        }
    }
    if (r->has_pdq && quality < MIN_QUALITY) {
        if (!r->has_md5 && !r->has_sha)
            return refuse(reason,
                          "PDQ quality %d is below %d (too plain to match safely) and the "
                          "line has no md5 or sha256",
                          quality, MIN_QUALITY);
        r->has_pdq = 0;
        r->nvariants = 0;
        r->pdq_dropped = 1;
        quality = -1;
    }
    if (!r->has_pdq && !r->has_md5 && !r->has_sha)
        return refuse(reason, "no hash (a line needs a pdq, md5 or sha256)");
    r->quality = r->has_pdq ? quality : 0;
    return IMPORT_ROW;
}

/* ---- csv ---------------------------------------------------------------- */

static int csv_header(import_parser_t *p, const char *line, size_t len,
                      char reason[IMPORT_REASON_MAX])
{
    span_t f[32];
    int n = split_fields(line, len, ',', f, 32, reason);
    if (n < 0)
        return IMPORT_BAD_FILE;
    int seen_pdq = 0, seen_quality = 0, seen_hash = 0;
    for (int i = 0; i < n; i++) {
        int c = -1;
        if (span_is(f[i], "pdq"))
            c = COL_PDQ, seen_pdq = 1;
        else if (span_is(f[i], "quality"))
            c = COL_QUALITY, seen_quality = 1;
        else if (span_is(f[i], "md5"))
            c = COL_MD5;
        else if (span_is(f[i], "sha256"))
            c = COL_SHA256;
        else if (span_is(f[i], "path") || span_is(f[i], "timestamp"))
            c = COL_IGNORE;
        else if (span_is(f[i], "frame"))
            c = COL_FRAME;
        for (int d = 0; c < 0 && d < 8; d++)
            if (span_is(f[i], dihedral_names[d]))
                c = COL_DIHEDRAL + d;
        if (c < 0) {
            refuse(reason,
                   "unknown column '%.*s' in the header (csv columns: pdq, quality, md5, sha256)",
                   (int)(f[i].n > 40 ? 40 : f[i].n), f[i].p);
            return IMPORT_BAD_FILE;
        }
        for (int k = 0; k < i; k++)
            if (p->cols[k] == c && c != COL_IGNORE) {
                refuse(reason, "column '%.*s' appears twice in the header", (int)f[i].n, f[i].p);
                return IMPORT_BAD_FILE;
            }
        p->cols[i] = c;
        seen_hash |= c == COL_PDQ || c == COL_MD5 || c == COL_SHA256;
    }
    if (!seen_hash) {
        refuse(reason, "the header names no hash column (pdq, md5, sha256)");
        return IMPORT_BAD_FILE;
    }
    if (seen_pdq && !seen_quality) {
        refuse(reason, "the header has pdq without quality (a PDQ needs its quality)");
        return IMPORT_BAD_FILE;
    }
    p->ncols = n;
    p->have_header = 1;
    return IMPORT_SKIP;
}

static int csv_line(import_parser_t *p, const char *line, size_t len, import_row_t *r,
                    char reason[IMPORT_REASON_MAX])
{
    span_t f[32];
    int n = split_fields(line, len, ',', f, 32, reason);
    if (n < 0)
        return IMPORT_REFUSED;
    if (n != p->ncols)
        return refuse(reason, "%d columns where the header has %d", n, p->ncols);
    int quality = -1, has_variants = 0;
    uint8_t var[8][32];
    int has_var[8] = {0};
    for (int i = 0; i < n; i++) {
        int k = 0;
        switch (p->cols[i]) {
        case COL_PDQ:
            k = hex_field(f[i], r->pdq, 32, "pdq", reason);
            r->has_pdq = k == 1;
            break;
        case COL_QUALITY:
            k = quality_field(f[i], &quality, reason);
            break;
        case COL_MD5:
            k = hex_field(f[i], r->md5, 16, "md5", reason);
            r->has_md5 = k == 1;
            break;
        case COL_SHA256:
            k = hex_field(f[i], r->sha256, 32, "sha256", reason);
            r->has_sha = k == 1;
            break;
        case COL_FRAME:
            if (trim(f[i]).n)
                return refuse(reason, "a video frame (videos are not imported)");
            break;
        case COL_IGNORE:
            break;
        default: {
            int d = p->cols[i] - COL_DIHEDRAL;
            k = hex_field(f[i], var[d], 32, dihedral_names[d], reason);
            has_var[d] = k == 1;
            has_variants |= k == 1;
        }
        }
        if (k < 0)
            return IMPORT_REFUSED;
    }
    for (int d = 0; d < 8; d++)
        if (has_var[d] && add_variant(r, var[d], reason) < 0)
            return IMPORT_REFUSED;
    return finish_row(p, r, quality, has_variants, reason);
}

/* ---- ThreatExchange TSV ------------------------------------------------- */

static int te_header(import_parser_t *p, const char *line, size_t len,
                     char reason[IMPORT_REASON_MAX])
{
    span_t f[32];
    int n = split_fields(line, len, '\t', f, 32, reason);
    if (n < 0)
        return IMPORT_BAD_FILE;
    int type = 0, raw = 0;
    for (int i = 0; i < n; i++) {
        p->cols[i] = COL_IGNORE;
        if (span_is(f[i], "td_indicator_type"))
            p->cols[i] = COL_TE_TYPE, type++;
        else if (span_is(f[i], "td_raw_indicator"))
            p->cols[i] = COL_TE_RAW, raw++;
    }
    if (type != 1 || raw != 1) {
        refuse(reason, "the header needs the columns td_indicator_type and td_raw_indicator "
                       "(once each, tab-separated)");
        return IMPORT_BAD_FILE;
    }
    p->ncols = n;
    p->have_header = 1;
    return IMPORT_SKIP;
}

static int te_line(import_parser_t *p, const char *line, size_t len, import_row_t *r,
                   char reason[IMPORT_REASON_MAX])
{
    span_t f[32];
    int n = split_fields(line, len, '\t', f, 32, reason);
    if (n < 0)
        return IMPORT_REFUSED;
    if (n != p->ncols)
        return refuse(reason, "%d columns where the header has %d", n, p->ncols);
    span_t type = {0}, raw = {0};
    for (int i = 0; i < n; i++) {
        if (p->cols[i] == COL_TE_TYPE)
            type = trim(f[i]);
        else if (p->cols[i] == COL_TE_RAW)
            raw = trim(f[i]);
    }
    int k;
    if (span_is(type, "hash_pdq"))
        k = hex_field(raw, r->pdq, 32, "the PDQ", reason), r->has_pdq = k == 1;
    else if (span_is(type, "hash_md5"))
        k = hex_field(raw, r->md5, 16, "the MD5", reason), r->has_md5 = k == 1;
    else if (span_is(type, "hash_sha256"))
        k = hex_field(raw, r->sha256, 32, "the SHA-256", reason), r->has_sha = k == 1;
    else
        return refuse(reason,
                      "indicator type '%.*s' is not one sitr matches (HASH_PDQ, "
                      "HASH_MD5, HASH_SHA256)",
                      (int)(type.n > 40 ? 40 : type.n), type.p);
    if (k < 0)
        return IMPORT_REFUSED;
    return finish_row(p, r, -1, 0, reason);
}

/* ---- JSON lines (sitr jsonl, HMA) --------------------------------------- */

static int json_hex(json_t *v, uint8_t *out, size_t nbytes, const char *what, int *has,
                    char reason[IMPORT_REASON_MAX])
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return refuse(reason, "%s is not a string", what);
    span_t s = {json_string_value(v), json_string_length(v)};
    int k = hex_field(s, out, nbytes, what, reason);
    *has = k == 1;
    return k < 0 ? k : 0;
}

static int jsonl_obj(const import_parser_t *p, json_t *o, import_row_t *r,
                     char reason[IMPORT_REASON_MAX])
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        static const char *const known[] = {"type",     "path", "pdq",    "quality",
                                            "dihedral", "md5",  "sha256", "error"};
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            return refuse(reason,
                          "unknown member '%.40s' (sitr hash --format jsonl has type, "
                          "path, pdq, quality, dihedral, md5, sha256)",
                          key);
    }
    json_t *err = json_object_get(o, "error");
    if (err) {
        json_t *code = json_is_object(err) ? json_object_get(err, "code") : NULL;
        return refuse(reason, "the hasher could not hash this file (%.40s)",
                      json_is_string(code) ? json_string_value(code) : "error");
    }
    json_t *type = json_object_get(o, "type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "image") == 0)) {
        if (json_is_string(type) && strcmp(json_string_value(type), "video") == 0)
            return refuse(reason, "a video (videos are not imported)");
        return refuse(reason, "type is not \"image\"");
    }
    if (json_hex(json_object_get(o, "pdq"), r->pdq, 32, "pdq", &r->has_pdq, reason) < 0 ||
        json_hex(json_object_get(o, "md5"), r->md5, 16, "md5", &r->has_md5, reason) < 0 ||
        json_hex(json_object_get(o, "sha256"), r->sha256, 32, "sha256", &r->has_sha, reason) < 0)
        return IMPORT_REFUSED;
    int quality = -1;
    json_t *q = json_object_get(o, "quality");
    if (q && !json_is_null(q)) {
        if (!json_is_integer(q) || json_integer_value(q) < 0 || json_integer_value(q) > 100)
            return refuse(reason, "quality is not a whole number from 0 to 100");
        quality = (int)json_integer_value(q);
    }
    json_t *dih = json_object_get(o, "dihedral");
    int has_variants = 0;
    if (dih && !json_is_null(dih)) {
        if (!json_is_array(dih) || json_array_size(dih) > 8)
            return refuse(reason, "dihedral is not an array of at most 8 PDQs");
        size_t i;
        json_t *x;
        json_array_foreach(dih, i, x)
        {
            uint8_t h[32];
            int has = 0;
            if (!x || json_is_null(x) || json_hex(x, h, 32, "a dihedral PDQ", &has, reason) < 0 ||
                !has)
                return has ? IMPORT_REFUSED : refuse(reason, "a dihedral PDQ is not 64 hex digits");
            has_variants = 1;
            if (add_variant(r, h, reason) < 0)
                return IMPORT_REFUSED;
        }
    }
    return finish_row(p, r, quality, has_variants, reason);
}

static int hma_obj(const import_parser_t *p, json_t *o, import_row_t *r,
                   char reason[IMPORT_REASON_MAX])
{
    json_t *sig = json_object_get(o, "signals");
    if (sig && !json_is_object(sig))
        return refuse(reason, "signals is not an object");
    if (!sig)
        sig = o;
    const char *key;
    json_t *v;
    json_object_foreach(sig, key, v)
    {
        int k = 0;
        if (strcmp(key, "pdq") == 0)
            k = json_hex(v, r->pdq, 32, "pdq", &r->has_pdq, reason);
        else if (strcmp(key, "md5") == 0)
            k = json_hex(v, r->md5, 16, "md5", &r->has_md5, reason);
        else if (sig == o && (strcmp(key, "id") == 0 || strcmp(key, "bank") == 0))
            return refuse(reason, "bank content without its signals (export it with "
                                  "include_signals=true)");
        else
            return refuse(reason, "signal type '%.40s' is not imported (sitr takes pdq and md5)",
                          key);
        if (k < 0)
            return IMPORT_REFUSED;
    }
    return finish_row(p, r, -1, 0, reason);
}

static int json_line(import_parser_t *p, const char *line, size_t len, import_row_t *r,
                     char reason[IMPORT_REASON_MAX])
{
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return refuse(reason, "not JSON: %.80s", je.text);
    int rc;
    if (!json_is_object(o))
        rc = refuse(reason, "not a JSON object");
    else if (p->format == IMPORT_FMT_HMA)
        rc = hma_obj(p, o, r, reason);
    else
        rc = jsonl_obj(p, o, r, reason);
    json_decref(o);
    return rc;
}

/* ---- dispatch ----------------------------------------------------------- */

static int blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return 0;
    return 1;
}

int import_parse_line(import_parser_t *p, const char *line, size_t len, import_row_t *row,
                      char reason[IMPORT_REASON_MAX])
{
    memset(row, 0, sizeof *row);
    reason[0] = '\0';
    if (len && line[len - 1] == '\r')
        len--;
    /* A UTF-8 byte order mark before the first line. */
    if (!p->have_header && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3, len -= 3;
    if (len > IMPORT_LINE_MAX)
        return refuse(reason, "longer than %d bytes", IMPORT_LINE_MAX);
    if (memchr(line, '\0', len))
        return refuse(reason, "a NUL byte");
    if (blank(line, len))
        return IMPORT_SKIP;
    switch (p->format) {
    case IMPORT_FMT_CSV:
        return p->have_header ? csv_line(p, line, len, row, reason)
                              : csv_header(p, line, len, reason);
    case IMPORT_FMT_TE:
        return p->have_header ? te_line(p, line, len, row, reason)
                              : te_header(p, line, len, reason);
    case IMPORT_FMT_JSONL:
    case IMPORT_FMT_HMA:
        p->have_header = 1; /* no header: the BOM rule above applies to line 1 only */
        return json_line(p, line, len, row, reason);
    case IMPORT_FMT_AUTO:
        break;
    }
    return refuse(reason, "no format");
}

import_format_t import_format_detect(const char *line)
{
    if (strncmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3;
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '{') {
        json_t *o = json_loads(line, 0, NULL);
        import_format_t f = IMPORT_FMT_AUTO;
        if (json_is_object(o))
            f = json_object_get(o, "type") || json_object_get(o, "path") ||
                        json_object_get(o, "error")
                    ? IMPORT_FMT_JSONL
                    : IMPORT_FMT_HMA;
        json_decref(o);
        return f;
    }
    if (strstr(line, "td_raw_indicator"))
        return IMPORT_FMT_TE;
    import_parser_t p;
    char reason[IMPORT_REASON_MAX];
    import_parser_init(&p, IMPORT_FMT_CSV, 0);
    if (csv_header(&p, line, strlen(line), reason) == IMPORT_SKIP)
        return IMPORT_FMT_CSV;
    return IMPORT_FMT_AUTO;
}
