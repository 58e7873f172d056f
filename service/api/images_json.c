/* Image list validation for the victims' API (contract in images_json.h).
 *
 * Invariants: the input is untrusted and read-only; the output contains
 * only values this module produced (lower-case hex of checked length,
 * integers in range), so the SQL side can trust its shape.  Work is bounded
 * by max_items and SITR_IMAGES_MAX_DIHEDRAL before any item is examined.
 * Messages name the field and the rule, never the value (values are
 * hashes).  Pure; any thread. */
#include "api/images_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PDQ_HEX     64
#define MD5_HEX     32
#define SHA256_HEX  64
#define MIN_QUALITY 50

static int fail(sitr_images_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(sitr_images_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copies want hex digits of s (length len) in lower case into out[want+1];
 * -1 when the length differs or a character is not hex (a NUL inside a
 * JSON string counts as not hex). */
static int lower_hex(const char *s, size_t len, size_t want, char *out)
{
    if (len != want)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}

/* Reads an optional hex member.  Returns 1 when present and valid (out
 * filled), 0 when absent or null, -1 on a fault (err filled). */
static int hex_member(const json_t *item, const char *name, size_t want, const char *path,
                      char *out, sitr_images_error_t *err)
{
    const json_t *v = json_object_get(item, name);
    if (!v || json_is_null(v))
        return 0;
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s.%s", path, name);
    if (!json_is_string(v))
        return fail(err, "invalid_type", field, "%s must be a string of %zu hexadecimal digits",
                    name, want);
    if (lower_hex(json_string_value(v), json_string_length(v), want, out) < 0)
        return fail(err, "invalid_hex", field, "%s must be exactly %zu hexadecimal digits", name,
                    want);
    return 1;
}

static const char *const item_members[] = {"pdq", "quality", "dihedral", "md5", "sha256"};

static int known_member(const char *key)
{
    for (size_t i = 0; i < sizeof item_members / sizeof item_members[0]; i++)
        if (strcmp(key, item_members[i]) == 0)
            return 1;
    return 0;
}

/* Validates item number idx and appends its normalised form to out, or a
 * warning to warnings, or nothing (duplicate). */
static int parse_item(const json_t *item, size_t idx, json_t *seen, sitr_images_t *out,
                      sitr_images_error_t *err)
{
    char path[32];
    snprintf(path, sizeof path, "images[%zu]", idx);
    if (!json_is_object(item))
        return fail(err, "invalid_type", path, "each image must be a JSON object");

    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)item, key, val)
    {
        if (!known_member(key)) {
            char field[sizeof err->field];
            /* The key is the client's text: cut it so the path stays bounded. */
            snprintf(field, sizeof field, "%s.%.64s", path, key);
            return fail(err, "unknown_field", field,
                        "unknown member; an image has only pdq, quality, dihedral, md5, sha256");
        }
    }

    char pdq[PDQ_HEX + 1], md5[MD5_HEX + 1], sha[SHA256_HEX + 1];
    int has_pdq = hex_member(item, "pdq", PDQ_HEX, path, pdq, err);
    if (has_pdq < 0)
        return -1;
    int has_md5 = hex_member(item, "md5", MD5_HEX, path, md5, err);
    if (has_md5 < 0)
        return -1;
    int has_sha = hex_member(item, "sha256", SHA256_HEX, path, sha, err);
    if (has_sha < 0)
        return -1;

    char field[sizeof err->field];
    const json_t *q = json_object_get(item, "quality");
    if (q && json_is_null(q))
        q = NULL;
    json_int_t quality = -1;
    snprintf(field, sizeof field, "%s.quality", path);
    if (q) {
        if (!json_is_integer(q))
            return fail(err, "invalid_type", field, "quality must be an integer from 0 to 100");
        quality = json_integer_value(q);
        if (quality < 0 || quality > 100)
            return fail(err, "invalid_quality", field, "quality must be from 0 to 100");
        if (!has_pdq)
            return fail(err, "quality_without_pdq", field,
                        "quality describes a PDQ hash; send it with pdq or not at all");
    } else if (has_pdq) {
        return fail(err, "quality_required", field, "a PDQ hash needs its quality (0 to 100)");
    }

    const json_t *d = json_object_get(item, "dihedral");
    if (d && json_is_null(d))
        d = NULL;
    char variants[SITR_IMAGES_MAX_DIHEDRAL][PDQ_HEX + 1];
    size_t nvariants = 0;
    if (d) {
        snprintf(field, sizeof field, "%s.dihedral", path);
        if (!has_pdq)
            return fail(err, "dihedral_without_pdq", field,
                        "dihedral variants need the plain pdq hash");
        if (!json_is_array(d))
            return fail(err, "invalid_type", field, "dihedral must be an array of PDQ hashes");
        if (json_array_size(d) > SITR_IMAGES_MAX_DIHEDRAL)
            return fail(err, "too_many_dihedral", field, "at most %d dihedral variants",
                        SITR_IMAGES_MAX_DIHEDRAL);
        for (size_t k = 0; k < json_array_size(d); k++) {
            const json_t *h = json_array_get(d, k);
            char vfield[sizeof err->field];
            snprintf(vfield, sizeof vfield, "%s.dihedral[%zu]", path, k);
            if (!json_is_string(h))
                return fail(err, "invalid_type", vfield,
                            "a dihedral variant is a 64-digit hex string");
            char hex[PDQ_HEX + 1];
            if (lower_hex(json_string_value(h), json_string_length(h), PDQ_HEX, hex) < 0)
                return fail(err, "invalid_hex", vfield,
                            "a dihedral variant must be exactly 64 hexadecimal digits");
            /* The identity variant equals the plain hash: not stored twice. */
            int dup = strcmp(hex, pdq) == 0;
            for (size_t m = 0; m < nvariants && !dup; m++)
                dup = strcmp(hex, variants[m]) == 0;
            if (!dup)
                memcpy(variants[nvariants++], hex, sizeof hex);
        }
    }

    if (!has_pdq && !has_md5 && !has_sha)
        return fail(err, "image_empty", path, "an image needs at least one of pdq, md5, sha256");

    if (has_pdq && quality < MIN_QUALITY) {
        snprintf(field, sizeof field, "%s.quality", path);
        if (!has_md5 && !has_sha)
            return fail(err, "pdq_quality_too_low", field,
                        "PDQ quality is below %d: the image is too plain to match safely, and "
                        "no md5 or sha256 was sent for it",
                        MIN_QUALITY);
        json_t *w = json_pack("{s:I,s:s,s:s,s:s}", "index", (json_int_t)idx, "code",
                              "pdq_quality_too_low", "field", field, "message",
                              "PDQ quality below 50: the PDQ hash was refused, the md5/sha256 "
                              "were kept");
        if (!w || json_array_append_new(out->warnings, w) < 0)
            return fail(err, "internal", "", "out of memory");
        has_pdq = 0;
        nvariants = 0;
    }

    char dkey[PDQ_HEX + MD5_HEX + SHA256_HEX + 3];
    snprintf(dkey, sizeof dkey, "%s|%s|%s", has_pdq ? pdq : "", has_md5 ? md5 : "",
             has_sha ? sha : "");
    if (json_object_get(seen, dkey)) {
        out->duplicates++;
        return 0;
    }
    if (json_object_set_new(seen, dkey, json_true()) < 0)
        return fail(err, "internal", "", "out of memory");

    json_t *o = json_object();
    int bad = !o;
    if (!bad && has_pdq) {
        json_t *arr = json_array();
        bad |= !arr;
        for (size_t m = 0; !bad && m < nvariants; m++)
            bad |= json_array_append_new(arr, json_string(variants[m])) < 0;
        bad |= json_object_set_new(o, "pdq", json_string(pdq)) < 0;
        bad |= json_object_set_new(o, "quality", json_integer(quality)) < 0;
        bad |= json_object_set_new(o, "dihedral", arr) < 0;
    }
    if (!bad && has_md5)
        bad |= json_object_set_new(o, "md5", json_string(md5)) < 0;
    if (!bad && has_sha)
        bad |= json_object_set_new(o, "sha256", json_string(sha)) < 0;
    if (bad || json_array_append_new(out->images, o) < 0)
        return fail(err, "internal", "", "out of memory");
    return 0;
}

void sitr_images_clear(sitr_images_t *im)
{
    if (!im)
        return;
    json_decref(im->images);
    json_decref(im->warnings);
    memset(im, 0, sizeof *im);
}

int sitr_images_parse(const json_t *body, size_t max_items, sitr_images_t *out,
                      sitr_images_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!json_is_object(body))
        return fail(err, "invalid_type", "", "the body must be a JSON object");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        if (strcmp(key, "images") != 0) {
            char field[sizeof err->field];
            snprintf(field, sizeof field, "%.64s", key);
            return fail(err, "unknown_field", field, "unknown member; the body has only images");
        }
    }
    const json_t *arr = json_object_get(body, "images");
    if (!arr)
        return fail(err, "images_required", "images", "images is required");
    return sitr_images_parse_list(arr, max_items, 0, out, err);
}

int sitr_images_parse_list(const json_t *arr, size_t max_items, int allow_empty, sitr_images_t *out,
                           sitr_images_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!json_is_array(arr))
        return fail(err, "invalid_type", "images", "images must be an array");
    size_t n = json_array_size(arr);
    if (n == 0 && !allow_empty)
        return fail(err, "no_images", "images", "images must hold at least one image");
    if (n > max_items)
        return fail(err, "too_many_images", "images", "at most %zu images per request", max_items);

    out->images = json_array();
    out->warnings = json_array();
    json_t *seen = json_object();
    int rc = 0;
    if (!out->images || !out->warnings || !seen)
        rc = fail(err, "internal", "", "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = parse_item(json_array_get(arr, i), i, seen, out, err);
    json_decref(seen);
    if (rc < 0) {
        sitr_images_clear(out);
        return -1;
    }
    out->count = json_array_size(out->images);
    return 0;
}
