/* Unit tests for the victims' image-list validation: the normalised output,
 * the PDQ quality rule, duplicates, caps, and a long table of malformed
 * inputs each answered with the expected code and JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/images_json.h"

#define P1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define P2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define P3 "00000000000000000000000000000000ffffffffffffffffffffffffffffffff"
#define M1 "d41d8cd98f00b204e9800998ecf8427e"
#define S1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Parses text; returns the error code ("" on success) and fills *field. */
static const char *run(const char *text, size_t max, sitr_images_t *out, char *field)
{
    json_error_t jerr;
    json_t *body = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!body)
        fail_msg("bad test JSON: %s: %s", text, jerr.text);
    sitr_images_error_t err;
    int rc = sitr_images_parse(body, max, out, &err);
    json_decref(body);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        assert_non_null(out->images);
        return "";
    }
    assert_null(out->images);
    assert_non_null(err.code);
    assert_true(err.message[0] != '\0');
    /* Messages never echo a hash. */
    assert_null(strstr(err.message, "0123456789abcdef"));
    return err.code;
}

static void test_normalises(void **state)
{
    (void)state;
    sitr_images_t im;
    const char *text =
        "{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P1 "\",\"" P2 "\",\"" P2
        "\",\"" P3 "\"],\"md5\":\"D41D8CD98F00B204E9800998ECF8427E\",\"sha256\":\"" S1
        "\"},{\"md5\":\"" M1 "\"},{\"sha256\":null,\"sha256\":\"" S1 "\"}]}";
    assert_string_equal(run(text, 10, &im, NULL), "");
    assert_int_equal(im.count, 3);
    assert_int_equal(im.duplicates, 0);
    assert_int_equal(json_array_size(im.warnings), 0);
    char *dump = json_dumps(im.images, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "[{\"dihedral\":[\"" P2 "\",\"" P3 "\"],\"md5\":\"" M1
                              "\",\"pdq\":\"" P1 "\",\"quality\":90,\"sha256\":\"" S1
                              "\"},{\"md5\":\"" M1 "\"},{\"sha256\":\"" S1 "\"}]");
    free(dump);
    sitr_images_clear(&im);
    sitr_images_clear(&im); /* twice is harmless */
}

static void test_pdq_without_dihedral(void **state)
{
    (void)state;
    sitr_images_t im;
    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":50}]}", 1, &im, NULL),
                        "");
    char *dump = json_dumps(im.images, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "[{\"dihedral\":[],\"pdq\":\"" P1 "\",\"quality\":50}]");
    free(dump);
    sitr_images_clear(&im);
    /* All eight variants as the hasher prints them (identity first). */
    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":100,\"dihedral\":[\"" P1
                            "\",\"" P2 "\",\"" P3 "\",\"" P2 "\",\"" P2 "\",\"" P3 "\",\"" P1
                            "\",\"" P2 "\"]}]}",
                            1, &im, NULL),
                        "");
    assert_int_equal(json_array_size(json_object_get(json_array_get(im.images, 0), "dihedral")), 2);
    sitr_images_clear(&im);
}

static void test_low_quality(void **state)
{
    (void)state;
    sitr_images_t im;
    char field[128];
    /* With digests: the PDQ goes, the digests stay, a warning says so. */
    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P2 "\",\"quality\":20},{\"pdq\":\"" P1
                            "\",\"quality\":49,\"dihedral\":[\"" P2 "\"],\"md5\":\"" M1 "\"}]}",
                            5, &im, field),
                        "pdq_quality_too_low");
    assert_string_equal(field, "images[0].quality");
    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":49,\"dihedral\":[\"" P2
                            "\"],\"md5\":\"" M1 "\"},{\"pdq\":\"" P2 "\",\"quality\":0}]}",
                            5, &im, field),
                        "pdq_quality_too_low");
    assert_string_equal(field, "images[1].quality");

    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P3 "\",\"quality\":80},{\"pdq\":\"" P1
                            "\",\"quality\":49,\"dihedral\":[\"" P2 "\"],\"md5\":\"" M1 "\"}]}",
                            5, &im, NULL),
                        "");
    assert_int_equal(im.count, 2);
    char *dump = json_dumps(json_array_get(im.images, 1), JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "{\"md5\":\"" M1 "\"}");
    free(dump);
    assert_int_equal(json_array_size(im.warnings), 1);
    json_t *w = json_array_get(im.warnings, 0);
    assert_int_equal(json_integer_value(json_object_get(w, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(w, "code")), "pdq_quality_too_low");
    assert_string_equal(json_string_value(json_object_get(w, "field")), "images[1].quality");
    sitr_images_clear(&im);
}

static void test_duplicates(void **state)
{
    (void)state;
    sitr_images_t im;
    /* Same image twice (case of hex differs), a digest-only repeat, and a
     * low-quality item that reduces to an earlier digest-only item. */
    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":70,\"md5\":\"" M1
                            "\"},{\"md5\":\"D41D8CD98F00B204E9800998ECF8427E\",\"pdq\":\"" P1
                            "\",\"quality\":71},{\"md5\":\"" M1 "\"},{\"md5\":\"" M1
                            "\"},{\"pdq\":\"" P2 "\",\"quality\":3,\"md5\":\"" M1
                            "\"},{\"pdq\":\"" P1 "\",\"quality\":70}]}",
                            10, &im, NULL),
                        "");
    assert_int_equal(im.count, 3); /* P1+M1, M1, P1 */
    assert_int_equal(im.duplicates, 3);
    assert_int_equal(json_array_size(im.warnings), 1);
    sitr_images_clear(&im);
}

static void test_caps(void **state)
{
    (void)state;
    sitr_images_t im;
    char field[128];
    char text[4096];
    size_t o = (size_t)snprintf(text, sizeof text, "{\"images\":[");
    for (int i = 0; i < 11; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s{\"md5\":\"%032x\"}", i ? "," : "", i);
    snprintf(text + o, sizeof text - o, "]}");
    assert_string_equal(run(text, 10, &im, field), "too_many_images");
    assert_string_equal(field, "images");
    assert_string_equal(run(text, 11, &im, NULL), "");
    assert_int_equal(im.count, 11);
    sitr_images_clear(&im);
    /* Nine dihedral variants. */
    assert_string_equal(run("{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P1
                            "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"" P1 "\",\"" P1
                            "\",\"" P1 "\",\"" P1 "\"]}]}",
                            10, &im, field),
                        "too_many_dihedral");
    assert_string_equal(field, "images[0].dihedral");
}

typedef struct bad_case {
    const char *json, *code, *field;
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* The body. */
    {"{}", "images_required", "images"},
    {"{\"images\":{}}", "invalid_type", "images"},
    {"{\"images\":\"x\"}", "invalid_type", "images"},
    {"{\"images\":null}", "invalid_type", "images"},
    {"{\"images\":[]}", "no_images", "images"},
    {"{\"images\":[{\"md5\":\"" M1 "\"}],\"case\":1}", "unknown_field", "case"},
    {"[]", "invalid_type", ""},
    /* Items. */
    {"{\"images\":[1]}", "invalid_type", "images[0]"},
    {"{\"images\":[{\"md5\":\"" M1 "\"},\"" P1 "\"]}", "invalid_type", "images[1]"},
    {"{\"images\":[{}]}", "image_empty", "images[0]"},
    {"{\"images\":[{\"pdq\":null,\"md5\":null}]}", "image_empty", "images[0]"},
    {"{\"images\":[{\"md5\":\"" M1 "\"},{\"md5\":\"" M1 "\"},{\"md5\":\"" M1 "\",\"pdqq\":\"" P1
     "\"}]}",
     "unknown_field", "images[2].pdqq"},
    {"{\"images\":[{\"MD5\":\"" M1 "\"}]}", "unknown_field", "images[0].MD5"},
    /* pdq */
    {"{\"images\":[{\"pdq\":\"" P1 "0\",\"quality\":90}]}", "invalid_hex", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\","
     "\"quality\":90}]}",
     "invalid_hex", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":\"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
     "\"quality\":90}]}",
     "invalid_hex", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":\" 123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
     "\"quality\":90}]}",
     "invalid_hex", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":"
     "\"\\u0000123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
     "\"quality\":90}]}",
     "invalid_hex", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":\"\",\"quality\":90}]}", "invalid_hex", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":12,\"quality\":90}]}", "invalid_type", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":[\"" P1 "\"],\"quality\":90}]}", "invalid_type", "images[0].pdq"},
    {"{\"images\":[{\"pdq\":\"" P1 "\"}]}", "quality_required", "images[0].quality"},
    /* quality */
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":101}]}", "invalid_quality", "images[0].quality"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":-1}]}", "invalid_quality", "images[0].quality"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90.0}]}", "invalid_type", "images[0].quality"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":\"90\"}]}", "invalid_type", "images[0].quality"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":true}]}", "invalid_type", "images[0].quality"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":9223372036854775807}]}", "invalid_quality",
     "images[0].quality"},
    {"{\"images\":[{\"md5\":\"" M1 "\",\"quality\":90}]}", "quality_without_pdq",
     "images[0].quality"},
    /* dihedral */
    {"{\"images\":[{\"md5\":\"" M1 "\",\"dihedral\":[]}]}", "dihedral_without_pdq",
     "images[0].dihedral"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":\"" P2 "\"}]}", "invalid_type",
     "images[0].dihedral"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P2 "\",7]}]}",
     "invalid_type", "images[0].dihedral[1]"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P2 "\",\"" M1 "\"]}]}",
     "invalid_hex", "images[0].dihedral[1]"},
    {"{\"images\":[{\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[null]}]}", "invalid_type",
     "images[0].dihedral[0]"},
    /* md5 / sha256 */
    {"{\"images\":[{\"md5\":\"" S1 "\"}]}", "invalid_hex", "images[0].md5"},
    {"{\"images\":[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427z\"}]}", "invalid_hex",
     "images[0].md5"},
    {"{\"images\":[{\"md5\":{}}]}", "invalid_type", "images[0].md5"},
    {"{\"images\":[{\"sha256\":\"" M1 "\"}]}", "invalid_hex", "images[0].sha256"},
    {"{\"images\":[{\"sha256\":\"0x" S1 "\"}]}", "invalid_hex", "images[0].sha256"},
    {"{\"images\":[{\"sha256\":false}]}", "invalid_type", "images[0].sha256"},
    {"{\"images\":[{\"md5\":\"" M1 "\"},{\"sha256\":\"" S1 "\"},{\"sha256\":\"" P1 "-\"}]}",
     "invalid_hex", "images[2].sha256"},
};

static void test_malformed_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        sitr_images_t im;
        char field[128];
        const char *code = run(bad_cases[i].json, 10, &im, field);
        if (strcmp(code, bad_cases[i].code) != 0 || strcmp(field, bad_cases[i].field) != 0)
            fail_msg("case %zu: got %s at '%s', want %s at '%s'", i, code, field, bad_cases[i].code,
                     bad_cases[i].field);
    }
}

static void test_long_unknown_key_bounded(void **state)
{
    (void)state;
    char key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char text[800];
    snprintf(text, sizeof text, "{\"images\":[{\"%s\":1}]}", key);
    sitr_images_t im;
    char field[128];
    assert_string_equal(run(text, 10, &im, field), "unknown_field");
    assert_int_equal(strlen(field), strlen("images[0].") + 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalises),
        cmocka_unit_test(test_pdq_without_dihedral),
        cmocka_unit_test(test_low_quality),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_long_unknown_key_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
