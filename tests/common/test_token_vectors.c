/* The shared rule for typed case numbers and secrets, in C: every vector of
 * tests/data/token_vectors.json (the same file tests/web/token_vectors.mjs
 * runs against the page's service/web/token.js) parses to its canonical
 * form, or is refused when the vector says null.  A vector file that lost
 * its entries, or one vector that disagrees, fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include <sitr/token.h>

#define VECTORS SITR_SOURCE_DIR "/tests/data/token_vectors.json"

static void test_vectors(void **state)
{
    (void)state;
    json_error_t e;
    json_t *doc = json_load_file(VECTORS, 0, &e);
    if (doc == NULL)
        fail_msg("%s line %d: %s", VECTORS, e.line, e.text);
    const json_t *v = json_object_get(doc, "vectors");
    assert_true(json_array_size(v) >= 30);
    size_t accepted = 0, refused = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        const char *kind = json_string_value(json_object_get(x, "kind"));
        const char *why = json_string_value(json_object_get(x, "why"));
        const json_t *typed = json_object_get(x, "typed");
        const json_t *want = json_object_get(x, "canonical");
        assert_non_null(kind);
        assert_true(json_is_string(typed));
        sitr_token_kind_t k =
            strcmp(kind, "secret") == 0 ? SITR_TOKEN_SECRET : SITR_TOKEN_REFERENCE;
        char out[SITR_TOKEN_MAX_LEN + 1];
        int rc = sitr_token_parse(k, json_string_value(typed), json_string_length(typed), out,
                                  sizeof out);
        if (json_is_string(want)) {
            if (rc != 0 || strcmp(out, json_string_value(want)) != 0)
                fail_msg("vector %zu (%s): got rc %d \"%s\", want \"%s\"", i, why, rc, out,
                         json_string_value(want));
            accepted++;
        } else {
            assert_true(json_is_null(want));
            if (rc == 0)
                fail_msg("vector %zu (%s): accepted as \"%s\", want refused", i, why, out);
            assert_string_equal(out, "");
            refused++;
        }
    }
    assert_true(accepted >= 10 && refused >= 10);
    json_decref(doc);
}

/* What JSON cannot carry: bytes that are not UTF-8, an overlong encoding
 * of '-', a truncated sequence. */
static void test_not_utf8(void **state)
{
    (void)state;
    const char *good = "01S4F-01GV6-HW7JX-8KY9M-ZAN0B-P1CQG";
    char out[SITR_TOKEN_MAX_LEN + 1], in[128];
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, good, strlen(good), out, sizeof out), 0);
    snprintf(in, sizeof in,
             "01S4F\xc0\xad"
             "01GV6-HW7JX-8KY9M-ZAN0B-P1CQG");
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, in, strlen(in), out, sizeof out),
                     SITR_EINVAL);
    snprintf(in, sizeof in, "01S4F-01GV6-HW7JX-8KY9M-ZAN0B-P1CQG\xd9");
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, in, strlen(in), out, sizeof out),
                     SITR_EINVAL);
    snprintf(in, sizeof in, "01S4F-01GV6-HW7JX-8KY9M-ZAN0B-P1CQG\xff");
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, in, strlen(in), out, sizeof out),
                     SITR_EINVAL);
    /* U+0660 cut after its first byte. */
    snprintf(in, sizeof in,
             "\xd9"
             "1S4F-01GV6-HW7JX-8KY9M-ZAN0B-P1CQG");
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, in, strlen(in), out, sizeof out),
                     SITR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
