/* Signed reports: RFC 8785 canonical JSON (the RFC's own example and its
 * number table), the key file (mode 0600, refused when readable by
 * others), signing and verifying, one changed byte failing, a pinned key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sitr/report_sign.h>

static char *canon(const char *json)
{
    json_error_t e;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    size_t len;
    char *s = sitr_jcs(v, &len);
    json_decref(v);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

static void test_jcs_rfc_example(void **state)
{
    (void)state;
    /* RFC 8785 section 3.2.2, "Sample Canonicalized JSON Data". */
    char *s = canon("{\"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, "
                    "0.000000000000000000000000001],"
                    "\"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
                    "\"literals\": [null, true, false]}");
    assert_string_equal(s,
                        "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,"
                        "4.5,0.002,1e-27],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\""
                        "/\"}");
    free(s);
}

static void test_jcs_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } v[] = {
        {"0", "0"},
        {"-0.0", "0"},
        {"1", "1"},
        {"-1", "-1"},
        {"0.87", "0.87"},
        {"0.1", "0.1"},
        {"1e21", "1e+21"},
        {"1e20", "100000000000000000000"},
        {"0.000001", "0.000001"},
        {"1e-7", "1e-7"},
        {"123456789012", "123456789012"},
        {"1.5e300", "1.5e+300"},
        {"5e-324", "5e-324"},
        {"4.35", "4.35"},
        {"9007199254740993", "9007199254740992"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *s = canon(v[i].in);
        if (strcmp(s, v[i].want) != 0)
            fail_msg("%s: %s, want %s", v[i].in, s, v[i].want);
        free(s);
    }
}

static void test_jcs_order(void **state)
{
    (void)state;
    /* Names sorted by UTF-16 code units: U+1F600 (surrogates D83D DE00)
     * before U+FB33, though after it by code point. */
    char *s = canon("{\"b\":1,\"a\":{\"z\":[],\"y\":\"\\n\"},\"\\ufb33\":2,\"\\ud83d\\ude00\":3}");
    assert_string_equal(s, "{\"a\":{\"y\":\"\\n\",\"z\":[]},\"b\":1,\"\xf0\x9f\x98\x80\":3,"
                           "\"\xef\xac\xb3\":2}");
    free(s);
}

static void test_sign_verify(void **state)
{
    (void)state;
    char dir[] = "/tmp/sitr-sign-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/report.key", dir);
    sitr_sign_key_t key, again;
    sitr_err_t err = {0};
    assert_int_equal(sitr_sign_key_create(path, &key, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never overwritten. */
    assert_int_not_equal(sitr_sign_key_create(path, &again, &err), 0);
    assert_int_equal(sitr_sign_key_load(path, &again, &err), 0);
    assert_memory_equal(again.pk, key.pk, sizeof key.pk);
    chmod(path, 0640);
    assert_int_equal(sitr_sign_key_load(path, &again, &err), SITR_ECONFIG);
    assert_non_null(strstr(err.msg, "chmod 600"));

    const char *text = "{\"case\":\"SITR-X\",\"takedowns\":[{\"note\":\"retir\xc3\xa9\","
                       "\"coverage\":0.87,\"status\":\"removed\"}],\"images\":2}";
    json_t *r = json_loads(text, 0, NULL);
    assert_int_equal(sitr_report_sign(r, &key), 0);
    char id[SITR_SIGN_KEY_ID], code[SITR_SIGN_CODE], want_id[SITR_SIGN_KEY_ID];
    assert_int_equal(sitr_report_verify(r, NULL, id, code, &err), 0);
    assert_int_equal(sitr_report_verify(r, key.pk, id, code, &err), 0);
    sitr_sign_key_id(key.pk, want_id);
    assert_string_equal(id, want_id);
    assert_int_equal(strlen(code), 14);
    assert_int_equal(code[4], '-');
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "signature"), "code")),
                        code);

    /* Through text and back (another member order): still genuine. */
    char *out = json_dumps(r, JSON_INDENT(2));
    json_t *r2 = json_loads(out, 0, NULL);
    assert_int_equal(sitr_report_verify(r2, key.pk, id, code, &err), 0);
    json_decref(r2);

    /* One changed byte in the signed part fails: "removed" -> "remover". */
    char *p = strstr(out, "removed");
    assert_non_null(p);
    p[6] = 'r';
    r2 = json_loads(out, 0, NULL);
    assert_int_equal(sitr_report_verify(r2, NULL, id, code, &err), SITR_EINVAL);
    assert_non_null(strstr(err.msg, "changed"));
    assert_int_equal(sitr_report_check(r2, NULL, id, code), SITR_REPORT_CHANGED);
    json_decref(r2);
    free(out);

    /* Another key: refused when the operator's key is pinned. */
    sitr_sign_key_t other;
    snprintf(path, sizeof path, "%s/other.key", dir);
    assert_int_equal(sitr_sign_key_create(path, &other, &err), 0);
    json_t *r3 = json_loads(text, 0, NULL);
    assert_int_equal(sitr_report_sign(r3, &other), 0);
    assert_int_equal(sitr_report_verify(r3, NULL, id, code, &err), 0);
    assert_int_equal(sitr_report_verify(r3, key.pk, id, code, &err), SITR_EINVAL);
    assert_non_null(strstr(err.msg, "another key"));
    assert_int_equal(sitr_report_check(r3, key.pk, id, code), SITR_REPORT_OTHER_KEY);
    assert_int_equal(sitr_report_check(r3, other.pk, id, code), SITR_REPORT_GENUINE);
    json_decref(r3);

    /* Unsigned: said so. */
    json_t *r4 = json_loads(text, 0, NULL);
    assert_int_equal(sitr_report_verify(r4, NULL, id, code, &err), SITR_EINVAL);
    assert_non_null(strstr(err.msg, "not signed"));
    assert_int_equal(sitr_report_check(r4, NULL, id, code), SITR_REPORT_UNSIGNED);
    /* A signature member that cannot be read. */
    json_object_set_new(r4, "signature", json_pack("{s:s}", "alg", "Ed25519"));
    assert_int_equal(sitr_report_check(r4, NULL, id, code), SITR_REPORT_MALFORMED);
    json_decref(r4);

    json_decref(r);
    sitr_sign_key_wipe(&key);
    sitr_sign_key_wipe(&again);
    sitr_sign_key_wipe(&other);
    unlink(path);
    snprintf(path, sizeof path, "%s/report.key", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jcs_rfc_example),
        cmocka_unit_test(test_jcs_numbers),
        cmocka_unit_test(test_jcs_order),
        cmocka_unit_test(test_sign_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
