/* Unit tests for the video validation of the victims' and platforms' API:
 * what `sitr hash --format jsonl --dihedral` prints (minus path) is
 * accepted and decoded, limits hold before any frame is decoded, the case
 * body's images/videos rules, and a table of malformed inputs each answered
 * with the expected code and JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/platform.h"
#include "api/videos_json.h"

#define P1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define P2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define M1 "d41d8cd98f00b204e9800998ecf8427e"
#define S1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D8                                                                                         \
    "[\"" P1 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\"]"
#define F0 "{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":" D8 "}"
#define F6 "{\"n\":6,\"t\":0.2,\"pdq\":\"" P2 "\",\"quality\":40}"
#define F12                                                                                        \
    "{\"n\":12,\"t\":0.4,\"pdq\":\"" P2 "\",\"quality\":70,\"trimmed\":{\"pdq\":\"" P1             \
    "\",\"quality\":60}}"
#define VIDEO                                                                                      \
    "{\"type\":\"video\",\"md5\":\"" M1 "\",\"sha256\":\"" S1                                      \
    "\",\"duration\":12.5,\"fps\":29.97,\"width\":1280,\"height\":720,\"frames\":[" F0 "," F6      \
    "," F12 "]}"

static const sitr_videos_limits_t lim = {.max_videos = 4, .max_frames = 10, .max_total_frames = 12};

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", text, jerr.text);
    return j;
}

static void check_error(const sitr_images_error_t *err)
{
    assert_non_null(err->code);
    assert_true(err->message[0] != '\0');
    /* Messages never echo a hash. */
    assert_null(strstr(err->message, "0123456789abcdef"));
    assert_null(strstr(err->message, "fedcba"));
}

/* A case body; returns the error code ("" on success) and fills field. */
static const char *run_case(const char *text, char *field)
{
    json_t *body = load(text);
    sitr_images_t im;
    sitr_videos_t vi;
    sitr_images_error_t err;
    int rc = sitr_case_body_parse(body, 5, &lim, &im, &vi, &err);
    json_decref(body);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        sitr_images_clear(&im);
        sitr_videos_clear(&vi);
        return "";
    }
    assert_null(im.images);
    assert_null(vi.videos);
    check_error(&err);
    return err.code;
}

/* One query video (a match item's "video"). */
static const char *run_query(const char *text, char *field)
{
    json_t *v = load(text);
    sitr_video_in_t out;
    sitr_images_error_t err;
    int rc = sitr_video_parse(v, SITR_VIDEO_QUERY, "items[3].video", 10, &out, &err);
    json_decref(v);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        sitr_video_in_clear(&out);
        return "";
    }
    assert_null(out.frames);
    check_error(&err);
    return err.code;
}

static void test_case_video_decoded(void **state)
{
    (void)state;
    json_t *body = load("{\"videos\":[" VIDEO "]}");
    sitr_images_t im;
    sitr_videos_t vi;
    sitr_images_error_t err;
    assert_int_equal(sitr_case_body_parse(body, 5, &lim, &im, &vi, &err), 0);
    json_decref(body);
    assert_null(im.images);
    assert_int_equal(vi.count, 1);
    assert_int_equal(vi.frames, 3);
    assert_int_equal(json_array_size(vi.warnings), 0);
    const sitr_video_in_t *v = &vi.videos[0];
    assert_true(v->has_md5 && v->has_sha256);
    assert_int_equal(v->md5[0], 0xd4);
    assert_int_equal(v->sha256[31], 0x55);
    assert_true(v->duration == 12.5);
    assert_int_equal(v->nframes, 3);
    assert_int_equal(v->usable, 2);
    assert_int_equal(v->frames[0].n, 0);
    assert_int_equal(v->frames[0].pdq.b[0], 0x01);
    assert_true(v->frames[0].has_dihedral);
    assert_int_equal(v->frames[0].dihedral[1].b[0], 0xfe);
    assert_false(v->frames[0].has_trimmed);
    assert_int_equal(v->frames[1].n, 6);
    assert_int_equal(v->frames[1].quality, 40);
    assert_false(v->frames[1].has_dihedral);
    assert_true(v->frames[2].t == 0.4);
    assert_true(v->frames[2].has_trimmed);
    assert_int_equal(v->frames[2].trimmed_quality, 60);
    assert_int_equal(v->frames[2].trimmed.b[0], 0x01);
    sitr_videos_clear(&vi);
    sitr_videos_clear(&vi); /* twice: harmless */
}

static void test_case_body_rules(void **state)
{
    (void)state;
    char field[128];
    /* Images alone, videos alone, both. */
    assert_string_equal(run_case("{\"images\":[{\"md5\":\"" M1 "\"}]}", NULL), "");
    assert_string_equal(run_case("{\"videos\":[" VIDEO "]}", NULL), "");
    assert_string_equal(
        run_case("{\"images\":[{\"md5\":\"" M1 "\"}],\"videos\":[" VIDEO "]}", NULL), "");
    assert_string_equal(run_case("{\"images\":[],\"videos\":[" VIDEO "]}", NULL), "");
    assert_string_equal(run_case("{\"images\":[{\"md5\":\"" M1 "\"}],\"videos\":[]}", NULL), "");
    /* Neither, or both empty. */
    assert_string_equal(run_case("{}", field), "images_required");
    assert_string_equal(run_case("{\"images\":[],\"videos\":[]}", field), "no_images");
    assert_string_equal(run_case("{\"videos\":[]}", field), "no_videos");
    assert_string_equal(field, "videos");
    assert_string_equal(run_case("{\"videos\":[" VIDEO "],\"name\":1}", field), "unknown_field");
    assert_string_equal(field, "name");
    assert_string_equal(run_case("{\"videos\":{}}", field), "invalid_type");
    assert_string_equal(field, "videos");
    /* A bad image fails the request also when the videos are fine. */
    assert_string_equal(run_case("{\"images\":[{\"md5\":\"x\"}],\"videos\":[" VIDEO "]}", field),
                        "invalid_hex");
    assert_string_equal(field, "images[0].md5");
    /* A bad video fails it also when the images are fine (and frees them). */
    assert_string_equal(
        run_case("{\"images\":[{\"md5\":\"" M1 "\"}],\"videos\":[{\"md5\":\"zz\"}]}", field),
        "invalid_hex");
    assert_string_equal(field, "videos[0].md5");
}

/* Builds {"videos":[{"md5":..,"frames":[n frames]}, x videos]}. */
static char *many(size_t videos, size_t frames)
{
    size_t cap = 256 + videos * (64 + frames * 128);
    char *s = malloc(cap);
    assert_non_null(s);
    size_t p = (size_t)snprintf(s, cap, "{\"videos\":[");
    for (size_t v = 0; v < videos; v++) {
        p += (size_t)snprintf(s + p, cap - p, "%s{\"md5\":\"" M1 "\",\"frames\":[", v ? "," : "");
        for (size_t f = 0; f < frames; f++)
            p += (size_t)snprintf(s + p, cap - p,
                                  "%s{\"n\":%zu,\"t\":%zu,\"pdq\":\"" P1 "\",\"quality\":80}",
                                  f ? "," : "", f, f);
        p += (size_t)snprintf(s + p, cap - p, "]}");
    }
    snprintf(s + p, cap - p, "]}");
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    char field[128];
    char *s = many(4, 3);
    assert_string_equal(run_case(s, NULL), "");
    free(s);
    s = many(5, 1);
    assert_string_equal(run_case(s, field), "too_many_videos");
    assert_string_equal(field, "videos");
    free(s);
    s = many(1, 10);
    assert_string_equal(run_case(s, NULL), "");
    free(s);
    s = many(1, 11);
    assert_string_equal(run_case(s, field), "too_many_frames");
    assert_string_equal(field, "videos[0].frames");
    free(s);
    /* 13 frames over 2 videos: over the request's total before any frame
     * is looked at (even the bad last one). */
    s = many(2, 7);
    char *bad = strstr(s, "\"n\":6");
    bad[4] = '9';
    assert_string_equal(run_case(s, field), "too_many_frames");
    assert_string_equal(field, "videos");
    free(s);

    /* Query: frames per video. */
    s = many(1, 11);
    json_t *body = load(s);
    free(s);
    sitr_video_in_t out;
    sitr_images_error_t err;
    assert_int_equal(sitr_video_parse(json_array_get(json_object_get(body, "videos"), 0),
                                      SITR_VIDEO_QUERY, "items[0].video", 10, &out, &err),
                     -1);
    assert_string_equal(err.code, "too_many_frames");
    assert_string_equal(err.field, "items[0].video.frames");
    json_decref(body);
}

static void test_quality(void **state)
{
    (void)state;
    char field[128];
    /* Every frame below 50 with a digest: kept with a warning. */
    json_t *body = load("{\"videos\":[{\"sha256\":\"" S1 "\",\"frames\":[" F6 "]}]}");
    sitr_images_t im;
    sitr_videos_t vi;
    sitr_images_error_t err;
    assert_int_equal(sitr_case_body_parse(body, 5, &lim, &im, &vi, &err), 0);
    json_decref(body);
    assert_int_equal(vi.count, 1);
    assert_int_equal(vi.videos[0].usable, 0);
    assert_int_equal(json_array_size(vi.warnings), 1);
    json_t *w = json_array_get(vi.warnings, 0);
    assert_string_equal(json_string_value(json_object_get(w, "code")), "video_quality_too_low");
    assert_string_equal(json_string_value(json_object_get(w, "field")), "videos[0].frames");
    sitr_videos_clear(&vi);
    /* Without a digest: refused. */
    assert_string_equal(run_case("{\"videos\":[{\"frames\":[" F6 "]}]}", field),
                        "video_quality_too_low");
    assert_string_equal(field, "videos[0].frames");
    assert_string_equal(run_case("{\"videos\":[{\"frames\":[]}]}", field), "video_empty");
    assert_string_equal(field, "videos[0]");
    /* A digest alone is a video (the frames may be empty). */
    assert_string_equal(run_case("{\"videos\":[{\"md5\":\"" M1 "\",\"frames\":[]}]}", NULL), "");
}

static void test_query(void **state)
{
    (void)state;
    char field[128];
    /* Meta's line format converted: t, pdq, quality; n optional. */
    json_t *v = load("{\"md5\":\"" M1 "\",\"frames\":[{\"t\":0,\"pdq\":\"" P1
                     "\",\"quality\":100},{\"n\":30,\"t\":1,\"pdq\":\"" P2
                     "\",\"quality\":90},{\"t\":2,\"pdq\":\"" P2 "\",\"quality\":90}]}");
    sitr_video_in_t out;
    sitr_images_error_t err;
    assert_int_equal(sitr_video_parse(v, SITR_VIDEO_QUERY, "items[0].video", 10, &out, &err), 0);
    json_decref(v);
    assert_int_equal(out.nframes, 3);
    assert_int_equal(out.frames[0].n, 0);
    assert_int_equal(out.frames[1].n, 30);
    assert_int_equal(out.frames[2].n, 31);
    assert_true(out.frames[2].t == 2.0);
    sitr_video_in_clear(&out);
    /* sitr's own JSON without path is accepted as a query too. */
    assert_string_equal(run_query("{\"type\":\"video\",\"duration\":3,\"fps\":30,\"width\":10,"
                                  "\"height\":10,\"frames\":[" F6 "," F12 "]}",
                                  NULL),
                        "");
    assert_string_equal(run_query("{\"frames\":[" F0 "]}", field), "unknown_field");
    assert_string_equal(field, "items[3].video.frames[0].dihedral");
    assert_string_equal(run_query("{\"frames\":[]}", field), "frames_required");
    assert_string_equal(field, "items[3].video.frames");
    assert_string_equal(run_query("{\"md5\":\"" M1 "\"}", field), "frames_required");
}

typedef struct bad_case {
    const char *json; /* one video object */
    const char *code;
    const char *field;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"[]", "invalid_type", "videos[0]"},
    {"{\"path\":\"a.mp4\",\"md5\":\"" M1 "\"}", "unknown_field", "videos[0].path"},
    {"{\"md5\":\"" M1 "\",\"sha\":1}", "unknown_field", "videos[0].sha"},
    {"{\"type\":\"image\",\"md5\":\"" M1 "\"}", "invalid_type", "videos[0].type"},
    {"{\"md5\":\"" M1 "0\"}", "invalid_hex", "videos[0].md5"},
    {"{\"md5\":5}", "invalid_type", "videos[0].md5"},
    {"{\"sha256\":\"" M1 "\"}", "invalid_hex", "videos[0].sha256"},
    {"{\"md5\":\"" M1 "\",\"duration\":-1}", "invalid_time", "videos[0].duration"},
    {"{\"md5\":\"" M1 "\",\"duration\":\"3\"}", "invalid_type", "videos[0].duration"},
    {"{\"md5\":\"" M1 "\",\"duration\":1e300}", "invalid_time", "videos[0].duration"},
    {"{\"md5\":\"" M1 "\",\"fps\":0}", "invalid_fps", "videos[0].fps"},
    {"{\"md5\":\"" M1 "\",\"width\":-1}", "invalid_dimension", "videos[0].width"},
    {"{\"md5\":\"" M1 "\",\"height\":1.5}", "invalid_dimension", "videos[0].height"},
    {"{\"md5\":\"" M1 "\",\"frames\":{}}", "invalid_type", "videos[0].frames"},
    {"{\"frames\":[1]}", "invalid_type", "videos[0].frames[0]"},
    {"{\"frames\":[{\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90}]}", "frame_number_required",
     "videos[0].frames[0].n"},
    {"{\"frames\":[{\"n\":-1,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90}]}", "invalid_frame_number",
     "videos[0].frames[0].n"},
    {"{\"frames\":[{\"n\":4294967296,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90}]}",
     "invalid_frame_number", "videos[0].frames[0].n"},
    {"{\"frames\":[{\"n\":\"1\",\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90}]}",
     "invalid_frame_number", "videos[0].frames[0].n"},
    {"{\"frames\":[" F6 "," F0 "]}", "frames_out_of_order", "videos[0].frames[1].n"},
    {"{\"frames\":[" F6 ",{\"n\":6,\"t\":0.2,\"pdq\":\"" P1 "\",\"quality\":90}]}",
     "frames_out_of_order", "videos[0].frames[1].n"},
    {"{\"frames\":[" F6 ",{\"n\":7,\"t\":0.1,\"pdq\":\"" P1 "\",\"quality\":90}]}",
     "frames_out_of_order", "videos[0].frames[1].t"},
    {"{\"frames\":[{\"n\":0,\"pdq\":\"" P1 "\",\"quality\":90}]}", "time_required",
     "videos[0].frames[0].t"},
    {"{\"frames\":[{\"n\":0,\"t\":null,\"pdq\":\"" P1 "\",\"quality\":90}]}", "time_required",
     "videos[0].frames[0].t"},
    {"{\"frames\":[{\"n\":0,\"t\":true,\"pdq\":\"" P1 "\",\"quality\":90}]}", "invalid_type",
     "videos[0].frames[0].t"},
    {"{\"frames\":[{\"n\":0,\"t\":-0.5,\"pdq\":\"" P1 "\",\"quality\":90}]}", "invalid_time",
     "videos[0].frames[0].t"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"quality\":90}]}", "pdq_required", "videos[0].frames[0].pdq"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" M1 "\",\"quality\":90}]}", "invalid_hex",
     "videos[0].frames[0].pdq"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\"}]}", "quality_required",
     "videos[0].frames[0].quality"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":101}]}", "invalid_quality",
     "videos[0].frames[0].quality"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":9.5}]}", "invalid_type",
     "videos[0].frames[0].quality"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P1 "\"]}]}",
     "invalid_dihedral", "videos[0].frames[0].dihedral"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P1
     "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"xx\"]}]}",
     "invalid_hex", "videos[0].frames[0].dihedral[7]"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"trimmed\":\"" P1 "\"}]}",
     "invalid_type", "videos[0].frames[0].trimmed"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"trimmed\":{\"pdq\":\"" P1
     "\"}}]}",
     "quality_required", "videos[0].frames[0].trimmed.quality"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1
     "\",\"quality\":90,\"trimmed\":{\"quality\":90}}]}",
     "pdq_required", "videos[0].frames[0].trimmed.pdq"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"trimmed\":{\"pdq\":\"" P1
     "\",\"quality\":90,\"x\":1}}]}",
     "unknown_field", "videos[0].frames[0].trimmed.x"},
    {"{\"frames\":[{\"n\":0,\"t\":0,\"pdq\":\"" P1 "\",\"quality\":90,\"pdqq\":1}]}",
     "unknown_field", "videos[0].frames[0].pdqq"},
    /* A NUL inside a hex string is not hex. */
    {"{\"md5\":\"d41d8cd98f00b204e9800998ecf8427\\u0000\"}", "invalid_hex", "videos[0].md5"},
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char text[4096], field[128];
        snprintf(text, sizeof text, "{\"videos\":[%s]}", bad_cases[i].json);
        const char *code = run_case(text, field);
        if (strcmp(code, bad_cases[i].code) != 0 || strcmp(field, bad_cases[i].field) != 0)
            fail_msg("case %zu %s: got %s at %s, want %s at %s", i, bad_cases[i].json, code, field,
                     bad_cases[i].code, bad_cases[i].field);
    }
}

/* A long key is cut in the field so the path stays bounded. */
static void test_long_key(void **state)
{
    (void)state;
    char key[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char text[1024], field[128];
    snprintf(text, sizeof text, "{\"videos\":[{\"frames\":[{\"%s\":1}]}]}", key);
    assert_string_equal(run_case(text, field), "unknown_field");
    assert_true(strlen(field) < 128);
    assert_non_null(strstr(field, "videos[0].frames[0].kkk"));
}

/* /v1/match video items: beside image items, in order; limits; faults. */
static void test_match_items(void **state)
{
    (void)state;
    const sitr_videos_limits_t vlim = {.max_videos = 10, .max_frames = 2, .max_total_frames = 3};
    json_t *body = load("{\"items\":[{\"md5\":\"" M1 "\"},{\"video\":{\"frames\":[{\"t\":0,"
                        "\"pdq\":\"" P1 "\",\"quality\":90},{\"t\":1,\"pdq\":\"" P2
                        "\",\"quality\":30}]}},{\"pdq\":\"" P2 "\",\"quality\":80}]}");
    sitr_match_item_t *items;
    sitr_video_in_t *videos;
    size_t n;
    sitr_platform_error_t err = {0};
    assert_int_equal(sitr_platform_parse_match_v(body, 10, &vlim, &items, &videos, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_true(items[0].has_md5 && !items[0].is_video);
    assert_true(items[1].is_video);
    assert_false(items[1].has_pdq || items[1].has_md5 || items[1].has_sha256);
    assert_int_equal(videos[1].nframes, 2);
    assert_int_equal(videos[1].usable, 1);
    assert_true(items[2].has_pdq && !items[2].is_video);
    assert_null(videos[0].frames);
    free(items);
    sitr_platform_videos_free(videos, n);
    /* Without video limits (the old entry point) a video item is unknown. */
    assert_int_equal(sitr_platform_parse_match(body, 10, &items, &n, &err), -1);
    assert_string_equal(err.code, "unknown_field");
    assert_string_equal(err.field, "items[1].video");
    json_decref(body);

    static const struct {
        const char *json, *code, *field;
    } bad[] = {
        {"{\"items\":[{\"video\":{\"frames\":[]}}]}", "frames_required", "items[0].video.frames"},
        {"{\"items\":[{\"md5\":\"" M1 "\",\"video\":{\"frames\":[]}}]}", "unknown_field",
         "items[0].md5"},
        {"{\"items\":[{\"pdq\":\"" P1 "\",\"quality\":90},{\"video\":{\"frames\":[{\"t\":0,"
         "\"pdq\":\"zz\",\"quality\":90}]}}]}",
         "invalid_hex", "items[1].video.frames[0].pdq"},
        {"{\"items\":[{\"video\":{\"frames\":[{\"t\":0,\"pdq\":\"" P1
         "\",\"quality\":90},{\"t\":1,\"pdq\":\"" P1 "\",\"quality\":90},{\"t\":2,"
         "\"pdq\":\"" P1 "\",\"quality\":90}]}}]}",
         "too_many_frames", "items[0].video.frames"},
        /* 2 + 2 frames: over the request's 3 before any is decoded. */
        {"{\"items\":[{\"video\":{\"frames\":[{},{}]}},{\"video\":{\"frames\":[{},{}]}}]}",
         "too_many_frames", "items"},
        {"{\"items\":[{\"video\":{\"frames\":[{\"t\":0,\"pdq\":\"" P1
         "\",\"quality\":90,\"dihedral\":[]}]}}]}",
         "unknown_field", "items[0].video.frames[0].dihedral"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = load(bad[i].json);
        memset(&err, 0, sizeof err);
        items = NULL;
        videos = NULL;
        if (sitr_platform_parse_match_v(body, 10, &vlim, &items, &videos, &n, &err) != -1)
            fail_msg("case %zu accepted", i);
        if (strcmp(err.code, bad[i].code) || strcmp(err.field, bad[i].field))
            fail_msg("case %zu: got %s at %s, want %s at %s", i, err.code, err.field, bad[i].code,
                     bad[i].field);
        assert_null(items);
        assert_null(videos);
        json_decref(body);
    }
}

/* Video uploads: normalised with packed frames (plain hashes of quality
 * >= 50, 42 bytes a record), digests inside the video. */
static void test_uploads(void **state)
{
    (void)state;
    const sitr_videos_limits_t vlim = {.max_videos = 10, .max_frames = 5, .max_total_frames = 5};
    json_t *body = load(
        "{\"uploads\":[{\"id\":\"v1\",\"url\":\"https://x.example/v1\",\"video\":{\"md5\":\"" M1
        "\",\"duration\":2.5,\"frames\":[{\"t\":0,\"pdq\":\"" P1
        "\",\"quality\":90},{\"t\":1,\"pdq\":\"" P2 "\",\"quality\":20},{\"t\":2,\"pdq\":\"" P2
        "\",\"quality\":70}]}},{\"id\":\"i1\",\"md5\":\"" M1 "\"},{\"id\":\"v2\",\"video\":{"
        "\"sha256\":\"" S1 "\",\"frames\":[{\"t\":0,\"pdq\":\"" P1 "\",\"quality\":10}]}}]}");
    sitr_uploads_t up;
    sitr_platform_error_t err = {0};
    assert_int_equal(sitr_platform_parse_uploads_v(body, 10, &vlim, &up, &err), 0);
    assert_int_equal(up.count, 3);
    json_t *v1 = json_array_get(up.uploads, 0);
    assert_string_equal(json_string_value(json_object_get(v1, "id")), "v1");
    assert_string_equal(json_string_value(json_object_get(v1, "url")), "https://x.example/v1");
    assert_string_equal(json_string_value(json_object_get(v1, "md5")), M1);
    assert_true(json_is_null(json_object_get(v1, "sha256")));
    assert_true(json_number_value(json_object_get(v1, "duration")) == 2.5);
    const char *frames = json_string_value(json_object_get(v1, "frames"));
    assert_non_null(frames);
    assert_int_equal(strlen(frames), 2 * 2 * 42); /* two usable frames, no variant */
    assert_non_null(strstr(frames, P1));
    assert_non_null(strstr(frames, P2));
    assert_null(json_object_get(v1, "pdq"));
    assert_int_equal(up.ignored[0], 0);
    assert_int_equal(up.ignored[1], 0);
    /* Every frame below 50: the digest is kept, the frames are not. */
    json_t *v2 = json_array_get(up.uploads, 2);
    assert_true(json_is_null(json_object_get(v2, "frames")));
    assert_string_equal(json_string_value(json_object_get(v2, "sha256")), S1);
    assert_int_equal(up.ignored[2], 1);
    sitr_platform_uploads_clear(&up);
    json_decref(body);

    body = load("{\"uploads\":[{\"id\":\"v1\",\"pdq\":\"" P1
                "\",\"quality\":90,\"video\":{\"frames\":[]}}]}");
    assert_int_equal(sitr_platform_parse_uploads_v(body, 10, &vlim, &up, &err), -1);
    assert_string_equal(err.code, "unknown_field");
    assert_string_equal(err.field, "uploads[0].pdq");
    json_decref(body);
    body = load("{\"uploads\":[{\"id\":\"v1\",\"video\":{\"frames\":[{\"t\":0,\"pdq\":\"" P1
                "\",\"quality\":10}]}}]}");
    assert_int_equal(sitr_platform_parse_uploads_v(body, 10, &vlim, &up, &err), -1);
    assert_string_equal(err.code, "video_quality_too_low");
    assert_string_equal(err.field, "uploads[0].video.frames");
    json_decref(body);
}

/* A case video's SQL form: frames packed with FLIPY and the trimmed hash. */
static void test_case_sql(void **state)
{
    (void)state;
    json_t *body = load("{\"videos\":[" VIDEO "]}");
    sitr_images_t im;
    sitr_videos_t vi;
    sitr_images_error_t err;
    assert_int_equal(sitr_case_body_parse(body, 5, &lim, &im, &vi, &err), 0);
    json_decref(body);
    char *text = sitr_videos_sql(&vi, SITR_VPACK_VARIANTS_DEFAULT, &err);
    assert_non_null(text);
    json_t *arr = load(text);
    free(text);
    json_t *v = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(v, "md5")), M1);
    assert_string_equal(json_string_value(json_object_get(v, "sha256")), S1);
    assert_true(json_number_value(json_object_get(v, "duration")) == 12.5);
    /* F0: plain + FLIPY (its dihedral[5] = P2); F6 dropped (quality 40);
     * F12: plain + trimmed (no dihedral sent). */
    const char *frames = json_string_value(json_object_get(v, "frames"));
    assert_int_equal(strlen(frames), 2 * (42 + 32) * 2);
    json_decref(arr);
    sitr_videos_clear(&vi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_video_decoded),
        cmocka_unit_test(test_case_body_rules),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_quality),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_long_key),
        cmocka_unit_test(test_match_items),
        cmocka_unit_test(test_uploads),
        cmocka_unit_test(test_case_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
