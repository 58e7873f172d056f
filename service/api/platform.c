/* The pure parts of the platforms' API: validation, cursors (checked with
 * sitr/opaque.h).  The search itself is match/msearch.h's.
 *
 * Invariants: input is untrusted and read-only; bounds (items, lengths) are
 * checked before any per-item work; normalised output contains only values
 * produced here (lower-case hex of checked length, integers in range,
 * strings checked for length, NUL and control characters), so SQL receives
 * nothing it would have to reject.  Messages never quote a value.  Any thread. */
#include "api/platform.h"

#include "api/html.h"
#include "api/videos_json.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sitr/hex.h>
#include <sitr/opaque.h>

#define PDQ_HEX    64
#define MD5_HEX    32
#define SHA256_HEX 64

static int fail(sitr_platform_error_t *err, const char *code, const char *field, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static int fail(sitr_platform_error_t *err, const char *code, const char *field, const char *fmt,
                ...)
{
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_oom(sitr_platform_error_t *err)
{
    return fail(err, "internal", NULL, "out of memory");
}

/* Checks that obj has only the allowed members; the first other one is a
 * fault at path.key (the key is cut so the path stays bounded). */
static int only_members(const json_t *obj, const char *const *allowed, size_t n, const char *path,
                        const char *what, sitr_platform_error_t *err)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t i = 0;
        while (i < n && strcmp(key, allowed[i]) != 0)
            i++;
        if (i == n) {
            char field[sizeof err->field];
            if (path && *path)
                snprintf(field, sizeof field, "%s.%.64s", path, key);
            else
                snprintf(field, sizeof field, "%.64s", key);
            return fail(err, "unknown_field", field, "unknown member; %s", what);
        }
    }
    return 0;
}

/* A member, with JSON null read as absent. */
static const json_t *member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return v && !json_is_null(v) ? v : NULL;
}

/* Decodes an optional hex member into out[want/2].  Returns 1 when present,
 * 0 when absent, -1 on a fault.  lower (optional) receives the lower-case
 * text. */
static int hex_member(const json_t *obj, const char *name, size_t want, const char *path,
                      uint8_t *out, char *lower, sitr_platform_error_t *err)
{
    const json_t *v = member(obj, name);
    if (!v)
        return 0;
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s.%s", path, name);
    if (!json_is_string(v))
        return fail(err, "invalid_type", field, "%s must be a string of %zu hexadecimal digits",
                    name, want);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len != want || strlen(s) != len || sitr_hex_decode(s, len, out, want / 2) < 0)
        return fail(err, "invalid_hex", field, "%s must be exactly %zu hexadecimal digits", name,
                    want);
    if (lower)
        sitr_hex_encode(out, want / 2, lower);
    return 1;
}

/* Reads "quality" beside a PDQ: -1 when absent (and no PDQ), else 0..100. */
static int quality_member(const json_t *obj, int has_pdq, const char *path, int *quality,
                          sitr_platform_error_t *err)
{
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s.quality", path);
    const json_t *q = member(obj, "quality");
    *quality = -1;
    if (!q) {
        if (has_pdq)
            return fail(err, "quality_required", field, "a PDQ hash needs its quality (0 to 100)");
        return 0;
    }
    if (!json_is_integer(q))
        return fail(err, "invalid_type", field, "quality must be an integer from 0 to 100");
    json_int_t v = json_integer_value(q);
    if (v < 0 || v > 100)
        return fail(err, "invalid_quality", field, "quality must be from 0 to 100");
    if (!has_pdq)
        return fail(err, "quality_without_pdq", field,
                    "quality describes a PDQ hash; send it with pdq or not at all");
    *quality = (int)v;
    return 0;
}

/* The array member `name` of the top-level body, 1..max entries. */
static const json_t *batch_array(const json_t *body, const char *name, size_t max, const char *what,
                                 sitr_platform_error_t *err)
{
    if (!json_is_object(body)) {
        fail(err, "invalid_body", NULL, "the body must be a JSON object");
        return NULL;
    }
    const char *allowed[1] = {name};
    char msg[64];
    snprintf(msg, sizeof msg, "the body has only \"%s\"", name);
    if (only_members(body, allowed, 1, "", msg, err) < 0)
        return NULL;
    const json_t *a = json_object_get(body, name);
    if (!json_is_array(a)) {
        fail(err, a ? "invalid_type" : "missing_field", name, "%s must be an array of %s", name,
             what);
        return NULL;
    }
    size_t n = json_array_size(a);
    if (n == 0) {
        fail(err, "empty_batch", name, "%s must hold at least one entry", name);
        return NULL;
    }
    if (n > max) {
        fail(err, "too_many_items", name, "at most %zu %s per request", max, what);
        return NULL;
    }
    return a;
}

/* ---- POST /v1/match -------------------------------------------------------- */

static const char *const match_members[] = {"pdq", "quality", "md5", "sha256"};
static const char *const video_item_members[] = {"video"};

/* Copies a videos_json fault into a platform one. */
static int fail_video(sitr_platform_error_t *err, const sitr_images_error_t *verr)
{
    if (strcmp(verr->code, "internal") == 0)
        return fail_oom(err);
    return fail(err, verr->code, verr->field, "%s", verr->message);
}

/* Frames over the video members of the batch array a (member `key` of each
 * element), counted before any is parsed. */
static size_t batch_frames(const json_t *a, const char *key)
{
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *v = json_object_get(json_array_get(a, i), key);
        const json_t *f = json_is_object(v) ? json_object_get(v, "frames") : NULL;
        total += json_is_array(f) ? json_array_size(f) : 0;
    }
    return total;
}

int sitr_platform_parse_match(const json_t *body, size_t max_items, sitr_match_item_t **items,
                              size_t *n, sitr_platform_error_t *err)
{
    return sitr_platform_parse_match_v(body, max_items, NULL, items, NULL, n, err);
}

void sitr_platform_videos_free(sitr_video_in_t *videos, size_t n)
{
    for (size_t i = 0; videos && i < n; i++)
        sitr_video_in_clear(&videos[i]);
    free(videos);
}

int sitr_platform_parse_match_v(const json_t *body, size_t max_items,
                                const sitr_videos_limits_t *vlim, sitr_match_item_t **items,
                                sitr_video_in_t **videos, size_t *n, sitr_platform_error_t *err)
{
    *items = NULL;
    if (videos)
        *videos = NULL;
    *n = 0;
    const json_t *a = batch_array(body, "items", max_items, "items", err);
    if (!a)
        return -1;
    size_t count = json_array_size(a);
    if (vlim && batch_frames(a, "video") > vlim->max_total_frames)
        return fail(err, "too_many_frames", "items",
                    "at most %zu video frames per request, over all its video items",
                    vlim->max_total_frames);
    sitr_match_item_t *out = calloc(count, sizeof *out);
    sitr_video_in_t *vids = vlim ? calloc(count, sizeof *vids) : NULL;
    if (!out || (vlim && !vids)) {
        free(out);
        free(vids);
        return fail_oom(err);
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *it = json_array_get(a, i);
        sitr_match_item_t *m = &out[i];
        char path[32];
        snprintf(path, sizeof path, "items[%zu]", i);
        if (!json_is_object(it)) {
            fail(err, "invalid_type", path, "each item must be a JSON object");
            goto bad;
        }
        if (vlim && json_object_get(it, "video")) {
            /* A video item: {"video":{...}} and nothing beside it. */
            if (only_members(it, video_item_members, 1, path,
                             "a video item has only video (its md5 and sha256 go inside it)",
                             err) < 0)
                goto bad;
            char vpath[48];
            snprintf(vpath, sizeof vpath, "%s.video", path);
            sitr_images_error_t verr = {0};
            if (sitr_video_parse(json_object_get(it, "video"), SITR_VIDEO_QUERY, vpath,
                                 vlim->max_frames, &vids[i], &verr) < 0) {
                fail_video(err, &verr);
                goto bad;
            }
            m->is_video = 1;
            m->quality = -1;
            continue;
        }
        if (only_members(it, match_members, 4, path,
                         vlim ? "an item has only pdq, quality, md5, sha256, or only video"
                              : "an item has only pdq, quality, md5, sha256",
                         err) < 0)
            goto bad;
        int p = hex_member(it, "pdq", PDQ_HEX, path, m->pdq, NULL, err);
        int d5 = p < 0 ? -1 : hex_member(it, "md5", MD5_HEX, path, m->md5, NULL, err);
        int d2 = d5 < 0 ? -1 : hex_member(it, "sha256", SHA256_HEX, path, m->sha256, NULL, err);
        if (d2 < 0 || quality_member(it, p == 1, path, &m->quality, err) < 0)
            goto bad;
        if (!p && !d5 && !d2) {
            fail(err, "no_hash", path, "an item needs at least one of pdq, md5, sha256");
            goto bad;
        }
        m->has_pdq = p == 1;
        m->has_md5 = d5 == 1;
        m->has_sha256 = d2 == 1;
        m->pdq_low_quality = m->has_pdq && m->quality < SITR_PLATFORM_MIN_QUALITY;
    }
    *items = out;
    if (videos)
        *videos = vids;
    *n = count;
    return 0;
bad:
    free(out);
    sitr_platform_videos_free(vids, count);
    return -1;
}

/* ---- POST /v1/uploads ------------------------------------------------------ */

/* Printable UTF-8 of 1..max_chars characters: well-formed (a path
 * parameter has not been through jansson, and PostgreSQL refuses ill-formed
 * text with an error), no NUL, no C0/C1 control characters, no DEL. */
static int printable_utf8(const char *s, size_t len, size_t max_chars, int allow_space)
{
    if (len == 0 || strlen(s) != len)
        return 0;
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; chars++) {
        long cp;
        i += sitr_html_decode_utf8(p + i, len - i, &cp);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (!allow_space && cp == ' ') ||
            chars >= max_chars)
            return 0;
    }
    return 1;
}

int sitr_platform_valid_content_id(const char *s, size_t len)
{
    return s && printable_utf8(s, len, SITR_PLATFORM_ID_MAX, 1);
}

static int valid_url(const char *s, size_t len)
{
    if (len > SITR_PLATFORM_URL_MAX || !printable_utf8(s, len, SITR_PLATFORM_URL_MAX, 0))
        return 0;
    size_t scheme = strncasecmp(s, "https://", 8) == 0  ? 8
                    : strncasecmp(s, "http://", 7) == 0 ? 7
                                                        : 0;
    return scheme && len > scheme;
}

static const char *const upload_members[] = {"id", "url", "pdq", "quality", "md5", "sha256"};
static const char *const video_upload_members[] = {"id", "url", "video"};

void sitr_platform_uploads_clear(sitr_uploads_t *u)
{
    json_decref(u->uploads);
    free(u->ignored);
    memset(u, 0, sizeof *u);
}

static int parse_upload(const json_t *it, const char *path, json_t *ids,
                        const sitr_videos_limits_t *vlim, json_t **norm, int *ignored,
                        sitr_platform_error_t *err)
{
    char field[sizeof err->field];
    if (!json_is_object(it))
        return fail(err, "invalid_type", path, "each upload must be a JSON object");
    int video = vlim && json_object_get(it, "video");
    if (video) {
        if (only_members(it, video_upload_members, 3, path,
                         "a video upload has only id, url, video (its md5 and sha256 go "
                         "inside it)",
                         err) < 0)
            return -1;
    } else if (only_members(it, upload_members, 6, path,
                            vlim ? "an upload has only id, url, pdq, quality, md5, sha256, or "
                                   "id, url, video"
                                 : "an upload has only id, url, pdq, quality, md5, sha256",
                            err) < 0) {
        return -1;
    }
    snprintf(field, sizeof field, "%s.id", path);
    const json_t *id = member(it, "id");
    if (!id)
        return fail(err, "missing_field", field, "id (the platform's content id) is required");
    if (!json_is_string(id) ||
        !sitr_platform_valid_content_id(json_string_value(id), json_string_length(id)))
        return fail(err, "invalid_id", field,
                    "id must be a string of 1 to %d characters without control characters",
                    SITR_PLATFORM_ID_MAX);
    if (json_object_get(ids, json_string_value(id)))
        return fail(err, "duplicate_id", field, "this id appears twice in the request");
    if (json_object_set_new(ids, json_string_value(id), json_true()) < 0)
        return fail_oom(err);
    snprintf(field, sizeof field, "%s.url", path);
    const json_t *url = member(it, "url");
    if (url &&
        (!json_is_string(url) || !valid_url(json_string_value(url), json_string_length(url))))
        return fail(err, "invalid_url", field,
                    "url must be an http:// or https:// URL of at most %d bytes without spaces",
                    SITR_PLATFORM_URL_MAX);
    if (video) {
        /* Frames packed as an upload's (plain hashes of quality >= 50);
         * the video's digests become the upload's. */
        char vpath[48];
        snprintf(vpath, sizeof vpath, "%s.video", path);
        sitr_video_in_t v;
        sitr_images_error_t verr = {0};
        if (sitr_video_parse(json_object_get(it, "video"), SITR_VIDEO_QUERY, vpath,
                             vlim->max_frames, &v, &verr) < 0)
            return fail_video(err, &verr);
        json_t *o = sitr_video_sql(&v, SITR_VPACK_UPLOAD, 0, vpath, &verr);
        size_t usable = v.usable;
        sitr_video_in_clear(&v);
        if (!o)
            return fail_video(err, &verr);
        *ignored = usable == 0; /* frames all below quality 50: digests only */
        if (json_object_set(o, "id", (json_t *)id) < 0 ||
            (url && json_object_set(o, "url", (json_t *)url) < 0)) {
            json_decref(o);
            return fail_oom(err);
        }
        *norm = o;
        return 0;
    }
    uint8_t bin[32];
    char pdq[PDQ_HEX + 1], md5[MD5_HEX + 1], sha[SHA256_HEX + 1];
    int p = hex_member(it, "pdq", PDQ_HEX, path, bin, pdq, err);
    int d5 = p < 0 ? -1 : hex_member(it, "md5", MD5_HEX, path, bin, md5, err);
    int d2 = d5 < 0 ? -1 : hex_member(it, "sha256", SHA256_HEX, path, bin, sha, err);
    int quality;
    if (d2 < 0 || quality_member(it, p == 1, path, &quality, err) < 0)
        return -1;
    if (!p && !d5 && !d2)
        return fail(err, "no_hash", path, "an upload needs at least one of pdq, md5, sha256");
    *ignored = p == 1 && quality < SITR_PLATFORM_MIN_QUALITY;
    if (*ignored && !d5 && !d2) {
        snprintf(field, sizeof field, "%s.quality", path);
        return fail(err, "pdq_quality_too_low", field,
                    "a PDQ hash of quality below 50 cannot be matched and this upload has no "
                    "MD5 or SHA-256");
    }
    json_t *o = json_pack("{s:O}", "id", id);
    if (!o)
        return fail_oom(err);
    int bad = 0;
    if (url)
        bad |= json_object_set(o, "url", (json_t *)url);
    if (p == 1 && !*ignored) {
        bad |= json_object_set_new(o, "pdq", json_string(pdq));
        bad |= json_object_set_new(o, "quality", json_integer(quality));
    }
    if (d5 == 1)
        bad |= json_object_set_new(o, "md5", json_string(md5));
    if (d2 == 1)
        bad |= json_object_set_new(o, "sha256", json_string(sha));
    if (bad) {
        json_decref(o);
        return fail_oom(err);
    }
    *norm = o;
    return 0;
}

int sitr_platform_parse_uploads(const json_t *body, size_t max_items, sitr_uploads_t *out,
                                sitr_platform_error_t *err)
{
    return sitr_platform_parse_uploads_v(body, max_items, NULL, out, err);
}

int sitr_platform_parse_uploads_v(const json_t *body, size_t max_items,
                                  const sitr_videos_limits_t *vlim, sitr_uploads_t *out,
                                  sitr_platform_error_t *err)
{
    memset(out, 0, sizeof *out);
    const json_t *a = batch_array(body, "uploads", max_items, "uploads", err);
    if (!a)
        return -1;
    size_t n = json_array_size(a);
    if (vlim && batch_frames(a, "video") > vlim->max_total_frames)
        return fail(err, "too_many_frames", "uploads",
                    "at most %zu video frames per request, over all its video uploads",
                    vlim->max_total_frames);
    json_t *ids = json_object();
    out->uploads = json_array();
    out->ignored = calloc(n, 1);
    if (!ids || !out->uploads || !out->ignored) {
        json_decref(ids);
        sitr_platform_uploads_clear(out);
        return fail_oom(err);
    }
    for (size_t i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "uploads[%zu]", i);
        json_t *norm = NULL;
        int ignored = 0;
        int rc = parse_upload(json_array_get(a, i), path, ids, vlim, &norm, &ignored, err);
        if (rc == 0 && json_array_append_new(out->uploads, norm) < 0)
            rc = fail_oom(err);
        if (rc < 0) {
            json_decref(ids);
            sitr_platform_uploads_clear(out);
            return -1;
        }
        out->ignored[i] = (unsigned char)ignored;
    }
    json_decref(ids);
    out->count = n;
    return 0;
}

/* ---- GET/POST /v1/takedowns ------------------------------------------------ */

static const char *const statuses[] = {"pending", "removed", "rejected", "not_found", "cancelled"};

int sitr_platform_parse_id(const char *s, int64_t *out)
{
    if (!s || s[0] < '1' || s[0] > '9')
        return 0;
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 19)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return 0;
    *out = (int64_t)v;
    return 1;
}

int sitr_platform_parse_takedown_query(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                                       const char *status, const char *after, const char *limit,
                                       sitr_takedown_query_t *q, sitr_platform_error_t *err)
{
    q->status = NULL;
    q->after = 0;
    q->limit = SITR_PLATFORM_LIST_DEFAULT;
    if (status && *status && strcmp(status, "all") != 0) {
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
            if (strcmp(status, statuses[i]) == 0)
                q->status = statuses[i];
        if (!q->status)
            return fail(err, "invalid_status", "status",
                        "status is one of pending, removed, rejected, not_found, cancelled, all");
    }
    if (after && *after && sitr_opaque_cursor_decode(key, platform_id, after, &q->after) < 0)
        return fail(err, "invalid_cursor", "after",
                    "after must be a next_cursor value returned by this endpoint");
    if (limit && *limit) {
        int64_t v = 0;
        if (!sitr_platform_parse_id(limit, &v) || v > SITR_PLATFORM_LIST_MAX)
            return fail(err, "invalid_limit", "limit", "limit is an integer from 1 to %d",
                        SITR_PLATFORM_LIST_MAX);
        q->limit = (unsigned)v;
    }
    return 0;
}

static const char *const answer_members[] = {"status", "note"};

int sitr_platform_parse_answer(const json_t *body, const char **status, const char **note,
                               sitr_platform_error_t *err)
{
    *status = NULL;
    *note = NULL;
    if (!json_is_object(body))
        return fail(err, "invalid_body", NULL, "the body must be a JSON object");
    if (only_members(body, answer_members, 2, "", "an answer has only status and note", err) < 0)
        return -1;
    const json_t *s = member(body, "status");
    if (!s)
        return fail(err, "missing_field", "status",
                    "status is required: removed, rejected or not_found");
    if (json_is_string(s))
        for (size_t i = 1; i <= 3; i++)
            if (strcmp(json_string_value(s), statuses[i]) == 0)
                *status = statuses[i];
    if (!*status)
        return fail(err, "invalid_status", "status", "status is removed, rejected or not_found");
    const json_t *n = member(body, "note");
    if (n) {
        const char *t = json_is_string(n) ? json_string_value(n) : NULL;
        size_t len = t ? json_string_length(n) : 0;
        size_t chars = 0;
        for (size_t i = 0; t && i < len; i++)
            if (((unsigned char)t[i] & 0xc0) != 0x80)
                chars++;
        if (!t || strlen(t) != len || chars > SITR_PLATFORM_NOTE_MAX)
            return fail(err, "invalid_note", "note",
                        "note is a string of at most %d characters without NUL",
                        SITR_PLATFORM_NOTE_MAX);
        if (len > 0)
            *note = t;
    }
    return 0;
}
