/* Video validation for the victims' and the platforms' API (contract in
 * videos_json.h).
 *
 * Invariants: the input is untrusted and read-only; every count is checked
 * against its limit before anything is allocated for it, so memory is at
 * most a constant times the limits; the output holds only decoded hashes,
 * checked numbers and counts.  Messages name the field and the rule, never
 * the value (values are hashes).  Pure; any thread. */
#include "api/videos_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON paths are cut at the error's field size on purpose (a client's long
 * key or deep index must not grow them). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

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

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes exactly 2 * n hex digits of the JSON string v into out[n]; -1
 * for another length or a non-hex character (a NUL included). */
static int decode_hex(const json_t *v, uint8_t *out, size_t n)
{
    if (!json_is_string(v) || json_string_length(v) != 2 * n)
        return -1;
    const char *s = json_string_value(v);
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* The member name of v, null counting as absent. */
static const json_t *member(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    return v && !json_is_null(v) ? v : NULL;
}

/* Optional hex member: 1 present and decoded, 0 absent, -1 fault. */
static int hex_member(const json_t *o, const char *name, size_t bytes, const char *path,
                      uint8_t *out, sitr_images_error_t *err)
{
    const json_t *v = member(o, name);
    if (!v)
        return 0;
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s.%s", path, name);
    if (!json_is_string(v))
        return fail(err, "invalid_type", field, "%s must be a string of %zu hexadecimal digits",
                    name, 2 * bytes);
    if (decode_hex(v, out, bytes) < 0)
        return fail(err, "invalid_hex", field, "%s must be exactly %zu hexadecimal digits", name,
                    2 * bytes);
    return 1;
}

/* A quality member: 0..100 into *q.  required: absent is a fault. */
static int quality_member(const json_t *o, const char *path, int *q, sitr_images_error_t *err)
{
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s.quality", path);
    const json_t *v = member(o, "quality");
    if (!v)
        return fail(err, "quality_required", field, "a PDQ hash needs its quality (0 to 100)");
    if (!json_is_integer(v))
        return fail(err, "invalid_type", field, "quality must be an integer from 0 to 100");
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > 100)
        return fail(err, "invalid_quality", field, "quality must be from 0 to 100");
    *q = (int)x;
    return 0;
}

/* Optional seconds member: 1 present (*out), 0 absent, -1 fault. */
static int seconds_member(const json_t *o, const char *name, const char *path, double *out,
                          sitr_images_error_t *err)
{
    const json_t *v = member(o, name);
    if (!v)
        return 0;
    char field[sizeof err->field];
    snprintf(field, sizeof field, "%s.%s", path, name);
    if (!json_is_number(v))
        return fail(err, "invalid_type", field, "%s must be a number of seconds", name);
    double x = json_number_value(v);
    if (!isfinite(x) || x < 0 || x > SITR_VIDEOS_MAX_SECONDS)
        return fail(err, "invalid_time", field, "%s must be from 0 to %.0f seconds", name,
                    SITR_VIDEOS_MAX_SECONDS);
    *out = x;
    return 1;
}

/* Refuses any member of o not in names[0..n); "path" gets its own words. */
static int only_members(const json_t *o, const char *path, const char *const *names, size_t n,
                        const char *what, sitr_images_error_t *err)
{
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)o, key, val)
    {
        size_t i = 0;
        while (i < n && strcmp(key, names[i]) != 0)
            i++;
        if (i < n)
            continue;
        char field[sizeof err->field];
        /* The key is the client's text: cut it so the path stays bounded. */
        snprintf(field, sizeof field, "%s.%.64s", path, key);
        if (strcmp(key, "path") == 0)
            return fail(err, "unknown_field", field,
                        "a file's path is never sent; remove path from the video");
        if (strcmp(key, "dihedral") == 0)
            return fail(err, "unknown_field", field,
                        "dihedral variants are stored for case videos only; a query frame "
                        "sends its plain pdq");
        return fail(err, "unknown_field", field, "unknown member; %s", what);
    }
    return 0;
}

static const char *const case_frame_members[] = {"n", "t", "pdq", "quality", "dihedral", "trimmed"};
static const char *const query_frame_members[] = {"n", "t", "pdq", "quality", "trimmed"};
static const char *const video_members[] = {"type", "md5",   "sha256", "duration",
                                            "fps",  "width", "height", "frames"};
static const char *const trimmed_members[] = {"pdq", "quality"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int parse_frame(const json_t *f, sitr_video_kind_t kind, const char *path,
                       const sitr_vframe_in_t *prev, sitr_vframe_in_t *out,
                       sitr_images_error_t *err)
{
    if (!json_is_object(f))
        return fail(err, "invalid_type", path, "each frame must be a JSON object");
    if (kind == SITR_VIDEO_CASE) {
        if (only_members(f, path, case_frame_members, COUNT(case_frame_members),
                         "a frame has only n, t, pdq, quality, dihedral, trimmed", err) < 0)
            return -1;
    } else if (only_members(f, path, query_frame_members, COUNT(query_frame_members),
                            "a frame has only n, t, pdq, quality, trimmed", err) < 0) {
        return -1;
    }
    char field[sizeof err->field];

    const json_t *n = member(f, "n");
    snprintf(field, sizeof field, "%s.n", path);
    if (n) {
        if (!json_is_integer(n) || json_integer_value(n) < 0 ||
            json_integer_value(n) > (json_int_t)UINT32_MAX)
            return fail(err, "invalid_frame_number", field,
                        "n must be an integer from 0 to 4294967295");
        out->n = (uint32_t)json_integer_value(n);
        if (prev && out->n <= prev->n)
            return fail(err, "frames_out_of_order", field,
                        "frame numbers must increase strictly from one frame to the next");
    } else if (kind == SITR_VIDEO_CASE) {
        return fail(err, "frame_number_required", field, "a case video's frame needs its n");
    } else {
        if (prev && prev->n == UINT32_MAX)
            return fail(err, "invalid_frame_number", field, "too many frames to number");
        out->n = prev ? prev->n + 1 : 0;
    }

    snprintf(field, sizeof field, "%s.t", path);
    int has_t = seconds_member(f, "t", path, &out->t, err);
    if (has_t < 0)
        return -1;
    if (!has_t)
        return fail(err, "time_required", field, "a frame needs its time t in seconds");
    if (prev && out->t < prev->t)
        return fail(err, "frames_out_of_order", field,
                    "frame times must not decrease from one frame to the next");

    int has_pdq = hex_member(f, "pdq", 32, path, out->pdq.b, err);
    if (has_pdq < 0)
        return -1;
    if (!has_pdq) {
        snprintf(field, sizeof field, "%s.pdq", path);
        return fail(err, "pdq_required", field, "a frame needs its pdq hash");
    }
    if (quality_member(f, path, &out->quality, err) < 0)
        return -1;

    const json_t *d = member(f, "dihedral");
    out->has_dihedral = d != NULL;
    if (d) {
        snprintf(field, sizeof field, "%s.dihedral", path);
        if (!json_is_array(d) || json_array_size(d) != SITR_VIDEOS_DIHEDRAL)
            return fail(err, "invalid_dihedral", field,
                        "dihedral must be an array of exactly %d PDQ hashes", SITR_VIDEOS_DIHEDRAL);
        for (size_t k = 0; k < SITR_VIDEOS_DIHEDRAL; k++) {
            if (decode_hex(json_array_get(d, k), out->dihedral[k].b, 32) < 0) {
                snprintf(field, sizeof field, "%s.dihedral[%zu]", path, k);
                return fail(err, "invalid_hex", field,
                            "a dihedral variant must be exactly 64 hexadecimal digits");
            }
        }
    }

    out->trimmed_quality = -1;
    const json_t *tr = member(f, "trimmed");
    if (tr) {
        snprintf(field, sizeof field, "%s.trimmed", path);
        if (!json_is_object(tr))
            return fail(err, "invalid_type", field,
                        "trimmed must be an object with pdq and quality");
        if (only_members(tr, field, trimmed_members, COUNT(trimmed_members),
                         "trimmed has only pdq and quality", err) < 0)
            return -1;
        char tpath[sizeof err->field];
        snprintf(tpath, sizeof tpath, "%s", field);
        int has = hex_member(tr, "pdq", 32, tpath, out->trimmed.b, err);
        if (has < 0)
            return -1;
        if (!has) {
            snprintf(field, sizeof field, "%s.pdq", tpath);
            return fail(err, "pdq_required", field, "trimmed needs its pdq hash");
        }
        if (quality_member(tr, tpath, &out->trimmed_quality, err) < 0)
            return -1;
        out->has_trimmed = 1;
    }
    return 0;
}

void sitr_video_in_clear(sitr_video_in_t *v)
{
    if (!v)
        return;
    free(v->frames);
    memset(v, 0, sizeof *v);
    v->duration = -1;
}

int sitr_video_parse(const json_t *v, sitr_video_kind_t kind, const char *path, size_t max_frames,
                     sitr_video_in_t *out, sitr_images_error_t *err)
{
    memset(out, 0, sizeof *out);
    out->duration = -1;
    if (!json_is_object(v))
        return fail(err, "invalid_type", path, "a video must be a JSON object");
    if (only_members(v, path, video_members, COUNT(video_members),
                     "a video has only type, md5, sha256, duration, fps, width, height, frames",
                     err) < 0)
        return -1;
    char field[sizeof err->field];

    const json_t *type = member(v, "type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "video") == 0)) {
        snprintf(field, sizeof field, "%s.type", path);
        return fail(err, "invalid_type", field, "type, when sent, must be \"video\"");
    }
    int rc = hex_member(v, "md5", 16, path, out->md5, err);
    if (rc < 0)
        return -1;
    out->has_md5 = rc;
    rc = hex_member(v, "sha256", 32, path, out->sha256, err);
    if (rc < 0)
        return -1;
    out->has_sha256 = rc;
    double dur = -1;
    if (seconds_member(v, "duration", path, &dur, err) < 0)
        return -1;
    out->duration = dur;

    const json_t *fps = member(v, "fps");
    if (fps) {
        snprintf(field, sizeof field, "%s.fps", path);
        if (!json_is_number(fps) || !isfinite(json_number_value(fps)) ||
            json_number_value(fps) <= 0 || json_number_value(fps) > 100000)
            return fail(err, "invalid_fps", field, "fps must be a number above 0");
    }
    static const char *const dims[] = {"width", "height"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *d = member(v, dims[i]);
        if (d &&
            (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > 65535)) {
            snprintf(field, sizeof field, "%s.%s", path, dims[i]);
            return fail(err, "invalid_dimension", field, "%s must be an integer from 0 to 65535",
                        dims[i]);
        }
    }

    const json_t *frames = member(v, "frames");
    snprintf(field, sizeof field, "%s.frames", path);
    if (frames && !json_is_array(frames))
        return fail(err, "invalid_type", field, "frames must be an array");
    size_t n = frames ? json_array_size(frames) : 0;
    if (n > max_frames)
        return fail(err, "too_many_frames", field, "at most %zu frames per video", max_frames);
    if (n == 0 && kind == SITR_VIDEO_QUERY)
        return fail(err, "frames_required", field, "a video needs at least one frame");
    if (n > 0) {
        out->frames = calloc(n, sizeof *out->frames);
        if (!out->frames)
            return fail(err, "internal", "", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char fpath[sizeof err->field];
        snprintf(fpath, sizeof fpath, "%s.frames[%zu]", path, i);
        if (parse_frame(json_array_get(frames, i), kind, fpath, i ? &out->frames[i - 1] : NULL,
                        &out->frames[i], err) < 0) {
            sitr_video_in_clear(out);
            return -1;
        }
        out->usable += out->frames[i].quality >= SITR_VIDEOS_MIN_QUALITY;
    }
    out->nframes = n;
    if (out->usable == 0 && !out->has_md5 && !out->has_sha256) {
        sitr_video_in_clear(out);
        if (n == 0)
            return fail(err, "video_empty", path,
                        "a video needs frames or at least one of md5, sha256");
        return fail(err, "video_quality_too_low", field,
                    "every frame's PDQ quality is below %d: the video is too plain to match "
                    "safely, and no md5 or sha256 was sent for it",
                    SITR_VIDEOS_MIN_QUALITY);
    }
    return 0;
}

void sitr_videos_clear(sitr_videos_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; v->videos && i < v->count; i++)
        sitr_video_in_clear(&v->videos[i]);
    free(v->videos);
    json_decref(v->warnings);
    memset(v, 0, sizeof *v);
}

int sitr_videos_parse(const json_t *arr, const sitr_videos_limits_t *lim, sitr_videos_t *out,
                      sitr_images_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!json_is_array(arr))
        return fail(err, "invalid_type", "videos", "videos must be an array");
    size_t n = json_array_size(arr);
    if (n > lim->max_videos)
        return fail(err, "too_many_videos", "videos", "at most %zu videos per request",
                    lim->max_videos);
    /* The total is checked from the counts before any frame is decoded. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_is_object(json_array_get(arr, i))
                              ? member(json_array_get(arr, i), "frames")
                              : NULL;
        total += json_is_array(f) ? json_array_size(f) : 0;
    }
    if (total > lim->max_total_frames)
        return fail(err, "too_many_frames", "videos", "at most %zu frames per request",
                    lim->max_total_frames);
    out->warnings = json_array();
    if (n > 0)
        out->videos = calloc(n, sizeof *out->videos);
    if (!out->warnings || (n > 0 && !out->videos)) {
        sitr_videos_clear(out);
        return fail(err, "internal", "", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "videos[%zu]", i);
        if (sitr_video_parse(json_array_get(arr, i), SITR_VIDEO_CASE, path, lim->max_frames,
                             &out->videos[i], err) < 0) {
            sitr_videos_clear(out);
            return -1;
        }
        out->count = i + 1;
        out->frames += out->videos[i].nframes;
        if (out->videos[i].usable == 0) {
            char field[48];
            snprintf(field, sizeof field, "%s.frames", path);
            json_t *w = json_pack("{s:I,s:s,s:s,s:s}", "index", (json_int_t)i, "code",
                                  "video_quality_too_low", "field", field, "message",
                                  "no frame has PDQ quality 50 or more: only the video's "
                                  "md5/sha256 were kept");
            if (!w || json_array_append_new(out->warnings, w) < 0) {
                sitr_videos_clear(out);
                return fail(err, "internal", "", "out of memory");
            }
        }
    }
    return 0;
}

static json_t *hex_or_null(const uint8_t *b, size_t n, int has)
{
    if (!has)
        return json_null();
    char hex[2 * 32 + 1];
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[b[i] >> 4];
        hex[2 * i + 1] = digits[b[i] & 15];
    }
    hex[2 * n] = '\0';
    return json_string(hex);
}

json_t *sitr_video_sql(const sitr_video_in_t *v, sitr_vpack_role_t role, unsigned variants,
                       const char *path, sitr_images_error_t *err)
{
    char *hex = NULL;
    size_t kept = 0, bad = 0;
    int rc =
        v->nframes ? sitr_vpack_hex(v->frames, v->nframes, role, variants, &hex, &kept, &bad) : 0;
    if (rc == SITR_ENOMEM) {
        fail(err, "internal", "", "out of memory");
        return NULL;
    }
    if (rc < 0) {
        /* The parser checked what vpack checks; this is a limit of the
         * packed form (frame slots) or a disagreement between the two. */
        char field[sizeof err->field];
        snprintf(field, sizeof field, "%s.frames", path);
        fail(err, rc == SITR_ETOOBIG ? "too_many_frames" : "invalid_frames", field,
             "the frames cannot be stored (%s)", sitr_strerror(rc));
        return NULL;
    }
    json_t *o = json_pack("{s:o,s:o,s:o,s:o}", "md5", hex_or_null(v->md5, 16, v->has_md5), "sha256",
                          hex_or_null(v->sha256, 32, v->has_sha256), "duration",
                          v->duration >= 0 ? json_real(v->duration) : json_null(), "frames",
                          hex ? json_string(hex) : json_null());
    free(hex);
    if (!o)
        fail(err, "internal", "", "out of memory");
    return o;
}

char *sitr_videos_sql(const sitr_videos_t *v, unsigned variants, sitr_images_error_t *err)
{
    json_t *arr = json_array();
    if (!arr) {
        fail(err, "internal", "", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < v->count; i++) {
        char path[32];
        snprintf(path, sizeof path, "videos[%zu]", i);
        json_t *o = sitr_video_sql(&v->videos[i], SITR_VPACK_CASE, variants, path, err);
        if (!o || json_array_append_new(arr, o) < 0) {
            if (o)
                fail(err, "internal", "", "out of memory");
            json_decref(arr);
            return NULL;
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text)
        fail(err, "internal", "", "out of memory");
    return text;
}

int sitr_case_body_parse(const json_t *body, size_t max_images, const sitr_videos_limits_t *lim,
                         sitr_images_t *images, sitr_videos_t *videos, sitr_images_error_t *err)
{
    memset(images, 0, sizeof *images);
    memset(videos, 0, sizeof *videos);
    memset(err, 0, sizeof *err);
    if (!json_is_object(body))
        return fail(err, "invalid_type", "", "the body must be a JSON object");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        if (strcmp(key, "images") != 0 && strcmp(key, "videos") != 0) {
            char field[sizeof err->field];
            snprintf(field, sizeof field, "%.64s", key);
            return fail(err, "unknown_field", field,
                        "unknown member; the body has only images and videos");
        }
    }
    const json_t *im = json_object_get(body, "images");
    const json_t *vi = json_object_get(body, "videos");
    if (!im && !vi)
        return fail(err, "images_required", "images",
                    "images or videos is required (a case holds pictures, videos or both)");
    int empty_images = !im || (json_is_array(im) && json_array_size(im) == 0);
    int empty_videos = !vi || (json_is_array(vi) && json_array_size(vi) == 0);
    if (empty_images && empty_videos)
        return fail(err, im ? "no_images" : "no_videos", im ? "images" : "videos",
                    "send at least one image or video");
    if (im && sitr_images_parse_list(im, max_images, 1, images, err) < 0)
        return -1;
    if (vi && sitr_videos_parse(vi, lim, videos, err) < 0) {
        sitr_images_clear(images);
        return -1;
    }
    if (!vi)
        memset(err, 0, sizeof *err);
    return 0;
}
