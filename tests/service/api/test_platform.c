/* Unit tests for the pure parts of the platforms' API (api/platform.c):
 * /v1/match item validation, /v1/uploads validation, takedown query and
 * answer validation, opaque refs, case tokens and cursors.  The search
 * itself is match/msearch's, tested against brute force in
 * tests/service/match/test_msearch.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/hex.h>
#include <sitr/opaque.h>

#include "api/platform.h"

#define P1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define M1 "d41d8cd98f00b204e9800998ecf8427e"
#define S1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const uint8_t key1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key2[32] = {32, 2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 1};

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", text, jerr.text);
    return j;
}

/* ---- /v1/match validation ---------------------------------------------------- */

static const char *match_run(const char *text, size_t max, char *field, sitr_match_item_t **items,
                             size_t *n)
{
    json_t *body = load(text);
    sitr_platform_error_t err = {0};
    sitr_match_item_t *tmp = NULL;
    size_t cnt = 0;
    int rc = sitr_platform_parse_match(body, max, &tmp, &cnt, &err);
    json_decref(body);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        assert_non_null(tmp);
        if (items) {
            *items = tmp;
            *n = cnt;
        } else {
            free(tmp);
        }
        return "";
    }
    assert_null(tmp);
    assert_true(err.message[0] != '\0');
    assert_null(strstr(err.message, "0123456789abcdef"));
    return err.code;
}

static void test_match_parse_ok(void **state)
{
    (void)state;
    sitr_match_item_t *it;
    size_t n;
    assert_string_equal(match_run("{\"items\":[{\"pdq\":\"" P1
                                  "\",\"quality\":90,\"md5\":\"D41D8CD98F00B204E9800998"
                                  "ECF8427E\"},{\"sha256\":\"" S1 "\",\"md5\":null},{\"pdq\":\"" P1
                                  "\",\"quality\":49}]}",
                                  3, NULL, &it, &n),
                        "");
    assert_int_equal(n, 3);
    assert_true(it[0].has_pdq && it[0].has_md5 && !it[0].has_sha256);
    assert_int_equal(it[0].quality, 90);
    assert_false(it[0].pdq_low_quality);
    char hex[65];
    sitr_hex_encode(it[0].md5, 16, hex);
    assert_string_equal(hex, M1);
    sitr_hex_encode(it[0].pdq, 32, hex);
    assert_string_equal(hex, P1);
    assert_true(!it[1].has_pdq && !it[1].has_md5 && it[1].has_sha256);
    assert_int_equal(it[1].quality, -1);
    assert_true(it[2].has_pdq && it[2].pdq_low_quality);
    free(it);
}

static void test_match_parse_faults(void **state)
{
    (void)state;
    static const struct {
        const char *text, *code, *field;
    } cases[] = {
        {"[]", "invalid_body", ""},
        {"{\"items\":[],\"x\":1}", "unknown_field", "x"},
        {"{}", "missing_field", "items"},
        {"{\"items\":{}}", "invalid_type", "items"},
        {"{\"items\":[]}", "empty_batch", "items"},
        {"{\"items\":[{\"md5\":\"" M1 "\"},{\"md5\":\"" M1 "\"},{\"md5\":\"" M1 "\"}]}",
         "too_many_items", "items"},
        {"{\"items\":[{\"md5\":\"" M1 "\"},7]}", "invalid_type", "items[1]"},
        {"{\"items\":[{\"md5\":\"" M1 "\",\"pdqq\":1}]}", "unknown_field", "items[0].pdqq"},
        {"{\"items\":[{\"md5\":\"" M1 "0\"}]}", "invalid_hex", "items[0].md5"},
        {"{\"items\":[{\"sha256\":\"" M1 "\"}]}", "invalid_hex", "items[0].sha256"},
        {"{\"items\":[{\"pdq\":\"" M1 M1 "\",\"quality\":90}]}", "", ""},
        {"{\"items\":[{\"pdq\":\"g" P1 "\",\"quality\":90}]}", "invalid_hex", "items[0].pdq"},
        {"{\"items\":[{\"pdq\":\"" P1 "\"}]}", "quality_required", "items[0].quality"},
        {"{\"items\":[{\"md5\":\"" M1 "\",\"quality\":90}]}", "quality_without_pdq",
         "items[0].quality"},
        {"{\"items\":[{\"pdq\":\"" P1 "\",\"quality\":101}]}", "invalid_quality",
         "items[0].quality"},
        {"{\"items\":[{\"pdq\":\"" P1 "\",\"quality\":\"90\"}]}", "invalid_type",
         "items[0].quality"},
        {"{\"items\":[{\"md5\":5}]}", "invalid_type", "items[0].md5"},
        {"{\"items\":[{}]}", "no_hash", "items[0]"},
        {"{\"items\":[{\"md5\":null}]}", "no_hash", "items[0]"},
        {"{\"items\":[{\"md5\":\"d41d8cd98f00b204e9800998ecf842\\u0000e\"}]}", "invalid_hex",
         "items[0].md5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char field[128];
        const char *code = match_run(cases[i].text, 2, field, NULL, NULL);
        if (strcmp(code, cases[i].code) != 0 || strcmp(field, cases[i].field) != 0)
            fail_msg("case %zu: got %s at '%s', want %s at '%s'", i, code, field, cases[i].code,
                     cases[i].field);
    }
}

/* ---- /v1/uploads validation ------------------------------------------------------ */

static const char *uploads_run(const char *text, size_t max, char *field, sitr_uploads_t *out)
{
    json_t *body = load(text);
    sitr_platform_error_t err = {0};
    sitr_uploads_t tmp;
    int rc = sitr_platform_parse_uploads(body, max, &tmp, &err);
    json_decref(body);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        assert_non_null(tmp.uploads);
        if (out)
            *out = tmp;
        else
            sitr_platform_uploads_clear(&tmp);
        return "";
    }
    assert_null(tmp.uploads);
    return err.code;
}

static void test_uploads_parse_ok(void **state)
{
    (void)state;
    sitr_uploads_t u;
    assert_string_equal(
        uploads_run("{\"uploads\":[{\"id\":\"post/42\",\"url\":\"HTTPS://ex.example/"
                    "p?q=1\",\"pdq\":\"" P1 "\",\"quality\":70,\"md5\":\"D41D8CD98"
                    "F00B204E9800998ECF8427E\"},{\"id\":\"x\",\"pdq\":\"" P1
                    "\",\"quality\":10,\"sha256\":\"" S1 "\",\"url\":null}]}",
                    5, NULL, &u),
        "");
    assert_int_equal(u.count, 2);
    assert_int_equal(u.ignored[0], 0);
    assert_int_equal(u.ignored[1], 1);
    char *dump = json_dumps(u.uploads, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "[{\"id\":\"post/42\",\"md5\":\"" M1 "\",\"pdq\":\"" P1
                              "\",\"quality\":70,\"url\":\"HTTPS://ex.example/p?q=1\"},"
                              "{\"id\":\"x\",\"sha256\":\"" S1 "\"}]");
    free(dump);
    sitr_platform_uploads_clear(&u);
    assert_null(u.uploads);
    sitr_platform_uploads_clear(&u); /* twice is fine */

    /* 256 characters of two bytes each is within the id limit; 257 not. */
    char text[2048], id[1100];
    id[0] = '\0';
    for (int i = 0; i < 256; i++)
        strcat(id, "\xc3\xa9");
    snprintf(text, sizeof text, "{\"uploads\":[{\"id\":\"%s\",\"md5\":\"" M1 "\"}]}", id);
    assert_string_equal(uploads_run(text, 5, NULL, NULL), "");
    strcat(id, "a");
    snprintf(text, sizeof text, "{\"uploads\":[{\"id\":\"%s\",\"md5\":\"" M1 "\"}]}", id);
    char field[128];
    assert_string_equal(uploads_run(text, 5, field, NULL), "invalid_id");
    assert_string_equal(field, "uploads[0].id");
}

static void test_uploads_parse_faults(void **state)
{
    (void)state;
    static const struct {
        const char *text, *code, *field;
    } cases[] = {
        {"{\"uploads\":[]}", "empty_batch", "uploads"},
        {"{\"items\":[]}", "unknown_field", "items"},
        {"{\"uploads\":[{\"md5\":\"" M1 "\"}]}", "missing_field", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"\",\"md5\":\"" M1 "\"}]}", "invalid_id", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":7,\"md5\":\"" M1 "\"}]}", "invalid_id", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\\nb\",\"md5\":\"" M1 "\"}]}", "invalid_id", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\\u0000b\",\"md5\":\"" M1 "\"}]}", "invalid_id",
         "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\\u0085b\",\"md5\":\"" M1 "\"}]}", "invalid_id",
         "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\",\"md5\":\"" M1 "\"},{\"id\":\"a\",\"md5\":\"" M1 "\"}]}",
         "duplicate_id", "uploads[1].id"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"ftp://x\",\"md5\":\"" M1 "\"}]}", "invalid_url",
         "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"https://\",\"md5\":\"" M1 "\"}]}", "invalid_url",
         "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"https://x y\",\"md5\":\"" M1 "\"}]}", "invalid_url",
         "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"javascript:alert(1)\",\"md5\":\"" M1 "\"}]}",
         "invalid_url", "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"pdq\":\"" P1 "\",\"quality\":49}]}", "pdq_quality_too_low",
         "uploads[0].quality"},
        {"{\"uploads\":[{\"id\":\"a\"}]}", "no_hash", "uploads[0]"},
        {"{\"uploads\":[{\"id\":\"a\",\"md5\":\"" M1 "\",\"size\":3}]}", "unknown_field",
         "uploads[0].size"},
        {"{\"uploads\":[{\"id\":\"a\",\"md5\":\"" M1 "\"},{\"id\":\"b\",\"md5\":\"" M1
         "\"},{\"id\":\"c\",\"md5\":\"" M1 "\"}]}",
         "too_many_items", "uploads"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char field[128];
        const char *code = uploads_run(cases[i].text, 2, field, NULL);
        if (strcmp(code, cases[i].code) != 0 || strcmp(field, cases[i].field) != 0)
            fail_msg("case %zu: got %s at '%s', want %s at '%s'", i, code, field, cases[i].code,
                     cases[i].field);
    }
    /* A URL over 2048 bytes. */
    char *text = malloc(4096);
    char *url = malloc(2100);
    strcpy(url, "https://x.example/");
    while (strlen(url) < 2049)
        strcat(url, "a");
    snprintf(text, 4096, "{\"uploads\":[{\"id\":\"a\",\"url\":\"%s\",\"md5\":\"" M1 "\"}]}", url);
    assert_string_equal(uploads_run(text, 2, NULL, NULL), "invalid_url");
    url[2048] = '\0';
    snprintf(text, 4096, "{\"uploads\":[{\"id\":\"a\",\"url\":\"%s\",\"md5\":\"" M1 "\"}]}", url);
    assert_string_equal(uploads_run(text, 2, NULL, NULL), "");
    free(url);
    free(text);
    assert_true(sitr_platform_valid_content_id("a b", 3));
    assert_false(sitr_platform_valid_content_id("a\tb", 3));
    assert_false(sitr_platform_valid_content_id("", 0));
}

/* ---- takedowns ---------------------------------------------------------------------- */

static void test_takedown_query(void **state)
{
    (void)state;
    sitr_takedown_query_t q;
    sitr_platform_error_t err = {0};
    assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, NULL, NULL, NULL, &q, &err), 0);
    assert_null(q.status);
    assert_int_equal(q.after, 0);
    assert_int_equal(q.limit, 100);
    assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, "all", "", "1000", &q, &err), 0);
    assert_null(q.status);
    assert_int_equal(q.limit, 1000);
    assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, "not_found", NULL, "1", &q, &err),
                     0);
    assert_string_equal(q.status, "not_found");
    assert_int_equal(q.limit, 1);

    static const struct {
        const char *status, *limit, *code;
    } bad[] = {
        {"Pending", NULL, "invalid_status"}, {"pending;", NULL, "invalid_status"},
        {NULL, "0", "invalid_limit"},        {NULL, "1001", "invalid_limit"},
        {NULL, "-1", "invalid_limit"},       {NULL, "10x", "invalid_limit"},
        {NULL, "010", "invalid_limit"},      {NULL, "99999999999999999999", "invalid_limit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, bad[i].status, NULL,
                                                            bad[i].limit, &q, &err),
                         -1);
        assert_string_equal(err.code, bad[i].code);
    }
}

static void test_cursor(void **state)
{
    (void)state;
    char c[SITR_OPAQUE_CURSOR_LEN + 1];
    int64_t ids[] = {1, 2, 12345, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        sitr_opaque_cursor_encode(key1, 7, ids[i], c);
        assert_int_equal(strlen(c), SITR_OPAQUE_CURSOR_LEN);
        int64_t back = 0;
        assert_int_equal(sitr_opaque_cursor_decode(key1, 7, c, &back), 0);
        assert_int_equal(back, ids[i]);
        /* Upper case is the same cursor. */
        char up[sizeof c];
        for (size_t k = 0; k <= sizeof c - 1; k++)
            up[k] = (char)(c[k] >= 'a' && c[k] <= 'z' ? c[k] - 32 : c[k]);
        assert_int_equal(sitr_opaque_cursor_decode(key1, 7, up, &back), 0);
        /* Another platform, another key: refused. */
        assert_int_equal(sitr_opaque_cursor_decode(key1, 8, c, &back), -1);
        assert_int_equal(sitr_opaque_cursor_decode(key2, 7, c, &back), -1);
    }
    sitr_opaque_cursor_encode(key1, 7, 100, c);
    int64_t back;
    /* Every single-symbol change is refused (id or MAC altered, or padding). */
    for (size_t pos = 0; pos < SITR_OPAQUE_CURSOR_LEN; pos++) {
        char t[sizeof c];
        memcpy(t, c, sizeof c);
        t[pos] = t[pos] == '0' ? '1' : '0';
        assert_int_equal(sitr_opaque_cursor_decode(key1, 7, t, &back), -1);
    }
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, "", &back), -1);
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, "100", &back), -1);
    char longer[sizeof c + 1];
    snprintf(longer, sizeof longer, "%s0", c);
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, longer, &back), -1);
    char withu[sizeof c];
    memcpy(withu, c, sizeof c);
    withu[3] = 'u'; /* not in the alphabet */
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, withu, &back), -1);
}

static const char *answer_run(const char *text, const char **status, const char **note)
{
    json_t *body = load(text);
    sitr_platform_error_t err = {0};
    const char *s = NULL, *n = NULL;
    int rc = sitr_platform_parse_answer(body, &s, &n, &err);
    static char note_copy[4096];
    note_copy[0] = '\0';
    if (n)
        snprintf(note_copy, sizeof note_copy, "%s", n);
    json_decref(body);
    if (status)
        *status = s;
    if (note)
        *note = n ? note_copy : NULL;
    return rc == 0 ? "" : err.code;
}

static void test_answer(void **state)
{
    (void)state;
    const char *s, *n;
    assert_string_equal(answer_run("{\"status\":\"removed\"}", &s, &n), "");
    assert_string_equal(s, "removed");
    assert_null(n);
    assert_string_equal(answer_run("{\"status\":\"not_found\",\"note\":\"gone\"}", &s, &n), "");
    assert_string_equal(s, "not_found");
    assert_string_equal(n, "gone");
    assert_string_equal(answer_run("{\"status\":\"rejected\",\"note\":null}", &s, &n), "");
    assert_null(n);
    assert_string_equal(answer_run("{\"status\":\"pending\"}", NULL, NULL), "invalid_status");
    assert_string_equal(answer_run("{\"status\":\"cancelled\"}", NULL, NULL), "invalid_status");
    assert_string_equal(answer_run("{\"status\":1}", NULL, NULL), "invalid_status");
    assert_string_equal(answer_run("{}", NULL, NULL), "missing_field");
    assert_string_equal(answer_run("[]", NULL, NULL), "invalid_body");
    assert_string_equal(answer_run("{\"status\":\"removed\",\"why\":1}", NULL, NULL),
                        "unknown_field");
    assert_string_equal(answer_run("{\"status\":\"removed\",\"note\":5}", NULL, NULL),
                        "invalid_note");
    assert_string_equal(answer_run("{\"status\":\"removed\",\"note\":\"a\\u0000\"}", NULL, NULL),
                        "invalid_note");
    /* 1000 characters (two bytes each) pass, 1001 do not. */
    char *text = malloc(4200), *note = malloc(2100);
    note[0] = '\0';
    for (int i = 0; i < 1000; i++)
        strcat(note, "\xc3\xa9");
    sprintf(text, "{\"status\":\"removed\",\"note\":\"%s\"}", note);
    assert_string_equal(answer_run(text, &s, &n), "");
    strcat(note, "x");
    sprintf(text, "{\"status\":\"removed\",\"note\":\"%s\"}", note);
    assert_string_equal(answer_run(text, NULL, NULL), "invalid_note");
    free(text);
    free(note);
}

static void test_parse_id(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_true(sitr_platform_parse_id("1", &v));
    assert_int_equal(v, 1);
    assert_true(sitr_platform_parse_id("9223372036854775807", &v));
    assert_int_equal(v, INT64_MAX);
    const char *bad[] = {"",
                         "0",
                         "01",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "12a",
                         "9223372036854775808",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(sitr_platform_parse_id(bad[i], &v));
    assert_false(sitr_platform_parse_id(NULL, &v));
}

/* ---- tokens --------------------------------------------------------------------------- */

static void test_refs(void **state)
{
    (void)state;
    char a[SITR_OPAQUE_TOKEN_LEN + 1], b[SITR_OPAQUE_TOKEN_LEN + 1];
    sitr_opaque_ref(key1, 7, 42, a);
    sitr_opaque_ref(key1, 7, 42, b);
    assert_string_equal(a, b); /* stable */
    assert_int_equal(strlen(a), SITR_OPAQUE_TOKEN_LEN);
    assert_int_equal(strspn(a, "0123456789abcdefghjkmnpqrstvwxyz"), SITR_OPAQUE_TOKEN_LEN);
    sitr_opaque_ref(key1, 8, 42, b);
    assert_string_not_equal(a, b); /* another platform */
    sitr_opaque_ref(key1, 7, 43, b);
    assert_string_not_equal(a, b); /* another image */
    sitr_opaque_ref(key2, 7, 42, b);
    assert_string_not_equal(a, b); /* another operator key */
    sitr_opaque_case_token(key1, 7, 42, b);
    assert_string_not_equal(a, b); /* another domain */
    /* Swapping platform and image gives an unrelated token. */
    sitr_opaque_ref(key1, 42, 7, b);
    assert_string_not_equal(a, b);
    /* Many refs of one platform are all distinct. */
    char seen[200][SITR_OPAQUE_TOKEN_LEN + 1];
    for (int i = 0; i < 200; i++) {
        sitr_opaque_ref(key1, 1, i, seen[i]);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[i], seen[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_parse_ok),
        cmocka_unit_test(test_match_parse_faults),
        cmocka_unit_test(test_uploads_parse_ok),
        cmocka_unit_test(test_uploads_parse_faults),
        cmocka_unit_test(test_takedown_query),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
