/* Output formats of `sitr hash` for images (videos: output_video.c).
 *
 * text: `<pdq>,<quality>,<path>`, the line of Meta's pdq-photo-hasher, so
 * existing tooling keeps working; with --dihedral the eight hashes come
 * first (orig .. flipminus1), then quality and path, keeping the path last
 * because it may itself contain commas.  csv: RFC 4180 with a header; the
 * path is quoted when it needs to be; when the batch holds a video, every
 * row ends with the frame and timestamp columns (empty for an image).
 * jsonl: one object per file ("type":"image" first) built
 * with jansson so every path is escaped correctly; names that are not
 * valid UTF-8 have the offending bytes replaced by U+FFFD.
 *
 * Runs on the printing thread only (the code-name table is filled lazily
 * without locking for that reason). */
#include "output.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/hex.h>
#include <sitr/pdq.h>

static const char *const dihedral_names[SITR_PDQ_DIHEDRAL_COUNT] = {
    "orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"};

int sitr_output_parse_format(const char *s, sitr_output_format_t *out)
{
    if (strcmp(s, "text") == 0)
        *out = SITR_OUTPUT_TEXT;
    else if (strcmp(s, "csv") == 0)
        *out = SITR_OUTPUT_CSV;
    else if (strcmp(s, "jsonl") == 0)
        *out = SITR_OUTPUT_JSONL;
    else if (strcmp(s, "vpdq") == 0)
        *out = SITR_OUTPUT_VPDQ;
    else
        return SITR_EINVAL;
    return 0;
}

const char *sitr_output_code_name(int code)
{
    /* Matched on the code values themselves, so the names stay right
     * whatever the numbering of the list. */
    static const struct {
        int code;
        const char *upper;
    } names[] = {
#define SITR_OUT_NAME_(name, msg) {SITR_E##name, #name},
        SITR_ERRNO_MAP(SITR_OUT_NAME_)
#undef SITR_OUT_NAME_
    };
    enum { N = sizeof(names) / sizeof(names[0]) };
    static char lower[N][24];
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < N; i++) {
            size_t j = 0;
            for (; names[i].upper[j] != '\0' && j + 1 < sizeof(lower[i]); j++)
                lower[i][j] = (char)tolower((unsigned char)names[i].upper[j]);
            lower[i][j] = '\0';
        }
        ready = 1;
    }
    for (size_t i = 0; i < N; i++)
        if (names[i].code == code)
            return lower[i];
    return "unknown";
}

/* Length of the valid UTF-8 sequence at s, or 0 if the byte at s does not
 * start one (overlong forms, surrogates and values past U+10FFFF are
 * invalid, as RFC 3629 requires). */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

char *sitr_output_utf8_sanitize(const char *s)
{
    size_t n = strlen(s);
    /* Worst case every byte becomes the 3-byte U+FFFD. */
    char *out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p != '\0') {
        size_t len = utf8_seq_len(p);
        if (len == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        } else {
            memcpy(out + o, p, len);
            o += len;
            p += len;
        }
    }
    out[o] = '\0';
    return out;
}

/* Writes s as one CSV field, quoted only when it contains a separator, a
 * quote or a line break (RFC 4180). */
void sitr_output_csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            putc('"', f);
        putc(*s, f);
    }
    putc('"', f);
}

int sitr_output_flush(FILE *f)
{
    /* Flushing per record lets a reader of a pipe see results while the
     * batch runs; the cost is tiny next to decoding an image. */
    if (fflush(f) != 0 || ferror(f))
        return SITR_EIO;
    return 0;
}

int sitr_output_begin(const sitr_output_t *o)
{
    if (o->format != SITR_OUTPUT_CSV)
        return 0;
    fputs("path,pdq,quality,md5,sha256", o->f);
    if (o->dihedral)
        for (int i = 0; i < SITR_PDQ_DIHEDRAL_COUNT; i++)
            fprintf(o->f, ",%s", dihedral_names[i]);
    if (o->videos)
        fputs(",frame,timestamp", o->f);
    putc('\n', o->f);
    return sitr_output_flush(o->f);
}

int sitr_output_jsonl_line(FILE *f, json_t *obj, size_t real_precision)
{
    if (obj == NULL)
        return SITR_ENOMEM;
    size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(real_precision);
    int rc = json_dumpf(obj, f, flags) == 0 ? 0 : SITR_EIO;
    json_decref(obj);
    if (rc == 0)
        putc('\n', f);
    return rc;
}

json_t *sitr_output_json_path(const char *path)
{
    json_t *s = json_string(path);
    if (s != NULL)
        return s;
    char *clean = sitr_output_utf8_sanitize(path);
    if (clean == NULL)
        return NULL;
    s = json_string(clean);
    free(clean);
    return s;
}

static int result_jsonl(FILE *f, const char *path, const sitr_image_t *img)
{
    char pdq[SITR_PDQ_HEX_LEN + 1], md5[2 * SITR_MD5_BYTES + 1], sha[2 * SITR_SHA256_BYTES + 1];
    sitr_pdq_to_hex(&img->pdq.hash, pdq);
    sitr_hex_encode(img->md5, SITR_MD5_BYTES, md5);
    sitr_hex_encode(img->sha256, SITR_SHA256_BYTES, sha);
    json_t *dih = json_array();
    if (dih == NULL)
        return SITR_ENOMEM;
    for (int i = 0; i < SITR_PDQ_DIHEDRAL_COUNT; i++) {
        char hex[SITR_PDQ_HEX_LEN + 1];
        sitr_pdq_to_hex(&img->pdq.dihedral[i], hex);
        if (json_array_append_new(dih, json_string(hex)) != 0) {
            json_decref(dih);
            return SITR_ENOMEM;
        }
    }
    json_t *jp = sitr_output_json_path(path);
    if (jp == NULL) {
        json_decref(dih);
        return SITR_ENOMEM;
    }
    /* "o" steals the references, also when json_pack fails. */
    json_t *obj =
        json_pack("{s:s, s:o, s:s, s:i, s:o, s:s, s:s}", "type", "image", "path", jp, "pdq", pdq,
                  "quality", img->pdq.quality, "dihedral", dih, "md5", md5, "sha256", sha);
    return sitr_output_jsonl_line(f, obj, 0);
}

int sitr_output_result(const sitr_output_t *o, const char *path, const sitr_image_t *img)
{
    char hex[SITR_PDQ_HEX_LEN + 1];
    int rc = 0;
    switch (o->format) {
    case SITR_OUTPUT_TEXT:
        /* The text format is one record per line with the path last: a
         * line break in a file name would let the name forge records. */
        if (strpbrk(path, "\r\n") != NULL)
            return SITR_EINVAL;
        if (o->dihedral) {
            for (int i = 0; i < SITR_PDQ_DIHEDRAL_COUNT; i++) {
                sitr_pdq_to_hex(&img->pdq.dihedral[i], hex);
                fprintf(o->f, "%s,", hex);
            }
        } else {
            sitr_pdq_to_hex(&img->pdq.hash, hex);
            fprintf(o->f, "%s,", hex);
        }
        fprintf(o->f, "%d,%s\n", img->pdq.quality, path);
        break;
    case SITR_OUTPUT_CSV: {
        char md5[2 * SITR_MD5_BYTES + 1], sha[2 * SITR_SHA256_BYTES + 1];
        sitr_pdq_to_hex(&img->pdq.hash, hex);
        sitr_hex_encode(img->md5, SITR_MD5_BYTES, md5);
        sitr_hex_encode(img->sha256, SITR_SHA256_BYTES, sha);
        sitr_output_csv_field(o->f, path);
        fprintf(o->f, ",%s,%d,%s,%s", hex, img->pdq.quality, md5, sha);
        if (o->dihedral) {
            for (int i = 0; i < SITR_PDQ_DIHEDRAL_COUNT; i++) {
                sitr_pdq_to_hex(&img->pdq.dihedral[i], hex);
                fprintf(o->f, ",%s", hex);
            }
        }
        if (o->videos)
            fputs(",,", o->f); /* no frame, no timestamp */
        putc('\n', o->f);
        break;
    }
    case SITR_OUTPUT_JSONL:
        rc = result_jsonl(o->f, path, img);
        break;
    case SITR_OUTPUT_VPDQ:
        return SITR_EINVAL; /* Meta's video format has no place for an image */
    }
    int frc = sitr_output_flush(o->f);
    return rc < 0 ? rc : frc;
}

int sitr_output_error(const sitr_output_t *o, const char *path, int code, const char *message)
{
    if (o->format != SITR_OUTPUT_JSONL)
        return 0;
    json_t *jp = sitr_output_json_path(path);
    json_t *jm = sitr_output_json_path(message); /* library messages may quote file bytes */
    if (jp == NULL || jm == NULL) {
        json_decref(jp);
        json_decref(jm);
        return SITR_ENOMEM;
    }
    json_t *obj = json_pack("{s:o, s:{s:s, s:o}}", "path", jp, "error", "code",
                            sitr_output_code_name(code), "message", jm);
    int rc = sitr_output_jsonl_line(o->f, obj, 0);
    int frc = sitr_output_flush(o->f);
    return rc < 0 ? rc : frc;
}
