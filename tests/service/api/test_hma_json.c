/* Unit tests for the pure parts of the HMA-compatible routes: signal type
 * names, HMA's signal strings (PDQ lower-case only, digests stripped and
 * either case, vPDQ compact features), booleans, the vPDQ brute-force
 * shares and POST /m/compare's answers and HMA-worded errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/hma_json.h"

#define H0 "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
/* H0 at distance 2 (HMA's PdqSignal examples, pdq/data/bridge-mods) */
#define H1 "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22"

static void test_types(void **state)
{
    (void)state;
    sitr_hma_type_t t;
    const char *names[] = {"pdq", "md5", "video_md5", "sha256", "vpdq"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sitr_hma_type_parse(names[i], &t), 0);
        assert_string_equal(sitr_hma_type_name(t), names[i]);
    }
    assert_int_equal(sitr_hma_type_parse("PDQ", &t), -1);
    assert_int_equal(sitr_hma_type_parse("tmk_pdqf", &t), -1);
    char msg[100];
    sitr_hma_unknown_type("SignalType", "tmk_pdqf", msg, sizeof msg);
    assert_string_equal(msg, "No such SignalType 'tmk_pdqf'");
    sitr_hma_unknown_type("SignalType", "<script>", msg, sizeof msg);
    assert_string_equal(msg, "No such SignalType");
}

static void test_signals(void **state)
{
    (void)state;
    sitr_hma_signal_t s;
    char msg[160];
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_PDQ, H0, 10, &s, msg, sizeof msg), 0);
    assert_int_equal(s.pdq.b[0], 0xf8);
    sitr_hma_signal_clear(&s);
    char upper[] = H0;
    upper[0] = 'F';
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_PDQ, upper, 10, &s, msg, sizeof msg), -1);
    assert_string_equal(msg, "invalid signal: invalid PDQ hash");
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_MD5, " D41D8CD98F00B204E9800998ECF8427E\n", 10,
                                           &s, msg, sizeof msg),
                     0);
    assert_int_equal(s.digest[0], 0xd4);
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_VIDEO_MD5, "d41d8cd9", 10, &s, msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "invalid signal: not a valid MD5 hash");
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_PDQ, "", 10, &s, msg, sizeof msg), -1);
    assert_string_equal(msg, "invalid signal: empty hash");
    /* vPDQ compact features */
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_VPDQ,
                                           "[\"" H0 ",100,0.000\",\"" H1 ",49,1.5\"]", 10, &s, msg,
                                           sizeof msg),
                     0);
    assert_int_equal(s.nframes, 2);
    assert_int_equal(s.frames[1].quality, 49);
    assert_true(s.frames[1].t == 1.5);
    assert_int_equal(s.frames[1].n, 1);
    sitr_hma_signal_clear(&s);
    static const char *const bad[] = {
        "{}",
        "[1]",
        "[\"" H0 ",100\"]",
        "[\"" H0 ",101,0\"]",
        "[\"" H0 ",100,-1\"]",
        "[\"" H0 ",100,1\",\"" H0 ",100,0\"]",
        "[\"" H0 ",100,0,9\"]",
        "[\"" H0 ",1x,0\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sitr_hma_signal_parse(SITR_HMA_VPDQ, bad[i], 10, &s, msg, sizeof msg), -1);
        assert_null(s.frames);
        assert_non_null(strstr(msg, "invalid signal: "));
        assert_null(strstr(msg, H0)); /* never the hash */
    }
    assert_int_equal(sitr_hma_signal_parse(SITR_HMA_VPDQ, "[\"" H0 ",1,0\",\"" H0 ",1,1\"]", 1, &s,
                                           msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "invalid signal: a vpdq signal takes at most 1 frames");
}

static void test_bool(void **state)
{
    (void)state;
    int v = -1;
    assert_int_equal(sitr_hma_parse_bool("TRUE", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(sitr_hma_parse_bool("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(sitr_hma_parse_bool("maybe", &v), -1);
    assert_int_equal(sitr_hma_parse_bool("", &v), -1);
}

static json_t *compare(const char *body, char *msg)
{
    json_t *in = json_loads(body, 0, NULL);
    assert_non_null(in);
    json_t *out = sitr_hma_compare(in, 31, 100, msg, 200);
    json_decref(in);
    return out;
}

static void expect_compare(const char *body, const char *want)
{
    char msg[200];
    json_t *got = compare(body, msg);
    json_t *exp = json_loads(want, 0, NULL);
    if (!got || !json_equal(got, exp))
        fail_msg("compare %s: %s", body, got ? json_dumps(got, 0) : msg);
    json_decref(got);
    json_decref(exp);
}

static void expect_compare_error(const char *body, const char *message)
{
    char msg[200];
    assert_null(compare(body, msg));
    assert_string_equal(msg, message);
}

static void test_compare(void **state)
{
    (void)state;
    expect_compare("{\"pdq\":[\"" H0 "\",\"" H1 "\"]}", "{\"pdq\":[true,{\"distance\":2}]}");
    expect_compare("{\"md5\":[\"d41d8cd98f00b204e9800998ecf8427e\","
                   "\"D41D8CD98F00B204E9800998ECF8427E\"]}",
                   "{\"md5\":[true,{}]}");
    /* Query: H0 (q 100), H0 again (a duplicate, counted once), H1 at q 40
     * (unusable); compared: H1.  Query share 1/1, compared share 1/1. */
    expect_compare("{\"vpdq\":[\"[\\\"" H0 ",100,0\\\",\\\"" H0 ",100,1\\\",\\\"" H1
                   ",40,2\\\"]\",\"[\\\"" H1 ",90,0\\\"]\"]}",
                   "{\"vpdq\":[true,{\"query_match_percent\":100.0,"
                   "\"compared_match_percent\":100.0}]}");
    expect_compare("{}", "{}");
    expect_compare_error("[]", "Request input was not a dict");
    expect_compare_error("{\"pdq\":{}}", "Comparison hashes for pdq was not a list");
    expect_compare_error("{\"pdq\":[\"" H0 "\"]}", "Comparison hash list length must be exactly 2");
    expect_compare_error("{\"x\":[\"a\",\"b\"]}", "No such SignalType 'x'");
    expect_compare_error("{\"pdq\":[\"" H0 "\",1]}", "Invalid pdq hash: empty hash");
    expect_compare_error("{\"sha256\":[\"" H0 "\",\"ab\"]}",
                         "Invalid sha256 hash: not a valid SHA-256 hash");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
