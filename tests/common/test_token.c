/* Unit tests for case references and secrets: format, round trips, the
 * tolerant parser, and that the check symbol catches every single-symbol
 * error and every neighbour swap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include <sitr/token.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int parse_str(sitr_token_kind_t kind, const char *in, char *out)
{
    return sitr_token_parse(kind, in, strlen(in), out, SITR_TOKEN_MAX_LEN + 1);
}

static void test_generate_format(void **state)
{
    (void)state;
    for (int round = 0; round < 200; round++) {
        char ref[SITR_TOKEN_MAX_LEN + 1], sec[SITR_TOKEN_MAX_LEN + 1], back[SITR_TOKEN_MAX_LEN + 1];
        assert_int_equal(sitr_token_generate(SITR_TOKEN_REFERENCE, ref, sizeof ref), 0);
        assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, sec, sizeof sec), 0);
        assert_int_equal(strlen(ref), SITR_TOKEN_REFERENCE_LEN);
        assert_int_equal(strlen(sec), SITR_TOKEN_SECRET_LEN);
        assert_memory_equal(ref, "SITR-", 5);
        for (size_t i = 5; i < strlen(ref); i++) {
            if ((i - 5) % 5 == 4)
                assert_int_equal(ref[i], '-');
            else
                assert_non_null(strchr(alphabet, ref[i]));
        }
        for (size_t i = 0; i < strlen(sec); i++) {
            if (i % 6 == 5)
                assert_int_equal(sec[i], '-');
            else
                assert_non_null(strchr(alphabet, sec[i]));
        }
        assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, ref, back), 0);
        assert_string_equal(back, ref);
        assert_int_equal(parse_str(SITR_TOKEN_SECRET, sec, back), 0);
        assert_string_equal(back, sec);
        /* The two kinds never parse as each other. */
        assert_int_not_equal(parse_str(SITR_TOKEN_SECRET, ref, back), 0);
        assert_int_not_equal(parse_str(SITR_TOKEN_REFERENCE, sec, back), 0);
    }
}

static void test_generate_distinct(void **state)
{
    (void)state;
    char a[SITR_TOKEN_MAX_LEN + 1], b[SITR_TOKEN_MAX_LEN + 1];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, a, sizeof a), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, b, sizeof b), 0);
        assert_string_not_equal(a, b);
    }
    /* Every symbol position takes many values: the generator is not stuck. */
    int seen[SITR_TOKEN_SECRET_LEN][32];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, b, sizeof b), 0);
        for (size_t k = 0; k < SITR_TOKEN_SECRET_LEN; k++)
            if (b[k] != '-')
                seen[k][strchr(alphabet, b[k]) - alphabet] = 1;
    }
    for (size_t k = 0; k + 1 < SITR_TOKEN_SECRET_LEN; k++) {
        if (k % 6 == 5)
            continue;
        int distinct = 0;
        for (int v = 0; v < 32; v++)
            distinct += seen[k][v];
        assert_int_equal(distinct, 32);
    }
}

static void test_known_vector(void **state)
{
    (void)state;
    /* All-zero data: value 0, check 0.  Data 0..1 then ones: computed by hand
     * below with Horner's rule mod 37. */
    unsigned char sym[SITR_TOKEN_SECRET_SYMBOLS] = {0};
    char out[SITR_TOKEN_MAX_LEN + 1];
    assert_int_equal(sitr_token_encode(SITR_TOKEN_SECRET, sym, out, sizeof out), 0);
    assert_string_equal(out, "00000-00000-00000-00000-00000-00000");
    sym[SITR_TOKEN_SECRET_SYMBOLS - 2] = 5; /* value 5 -> check 5 */
    assert_int_equal(sitr_token_encode(SITR_TOKEN_SECRET, sym, out, sizeof out), 0);
    assert_string_equal(out, "00000-00000-00000-00000-00000-00055");
    sym[SITR_TOKEN_SECRET_SYMBOLS - 3] = 1; /* value 32 + 5 = 37 -> check 0 */
    assert_int_equal(sitr_token_encode(SITR_TOKEN_SECRET, sym, out, sizeof out), 0);
    assert_string_equal(out, "00000-00000-00000-00000-00000-00150");
    sym[SITR_TOKEN_SECRET_SYMBOLS - 2] = 4; /* 36 -> check would be '$': refused */
    assert_int_equal(sitr_token_encode(SITR_TOKEN_SECRET, sym, out, sizeof out), SITR_EINVAL);
    sym[0] = 32; /* not a symbol value */
    assert_int_equal(sitr_token_encode(SITR_TOKEN_SECRET, sym, out, sizeof out), SITR_EINVAL);
}

static void test_parse_tolerant(void **state)
{
    (void)state;
    char ref[SITR_TOKEN_MAX_LEN + 1], out[SITR_TOKEN_MAX_LEN + 1];
    /* A fixed reference containing 0 and 1, so the confusables matter. */
    unsigned char sym[SITR_TOKEN_REFERENCE_SYMBOLS];
    for (int tries = 0;; tries++) {
        for (size_t i = 0; i + 1 < SITR_TOKEN_REFERENCE_SYMBOLS; i++)
            sym[i] = (unsigned char)((i * 7 + (size_t)tries) % 32);
        sym[3] = 0;
        sym[4] = 1;
        if (sitr_token_encode(SITR_TOKEN_REFERENCE, sym, ref, sizeof ref) == 0)
            break;
    }
    /* Lower case, no hyphens, no prefix. */
    char typed[128];
    size_t t = 0;
    for (const char *p = ref + 5; *p; p++)
        if (*p != '-')
            typed[t++] = (char)tolower((unsigned char)*p);
    typed[t] = '\0';
    assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, typed, out), 0);
    assert_string_equal(out, ref);

    /* Spaces instead of hyphens, lower-case prefix with 'l' for 'I'. */
    char spaced[128];
    snprintf(spaced, sizeof spaced, "  slTr %s ", ref + 5);
    for (char *p = spaced; *p; p++)
        if (*p == '-')
            *p = ' ';
    assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, spaced, out), 0);
    assert_string_equal(out, ref);

    /* O for 0, I and L for 1. */
    char conf[128];
    strcpy(conf, ref);
    size_t zero = 5 + 3, one = 5 + 4; /* sym[3] is '0', sym[4] is '1' (after a hyphen) */
    one += 1;
    assert_int_equal(conf[zero], '0');
    assert_int_equal(conf[one], '1');
    conf[zero] = 'O';
    conf[one] = 'I';
    assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, conf, out), 0);
    assert_string_equal(out, ref);
    conf[zero] = 'o';
    conf[one] = 'l';
    assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, conf, out), 0);
    assert_string_equal(out, ref);
    conf[one] = 'L';
    assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, conf, out), 0);
    assert_string_equal(out, ref);
    conf[one] = 'U'; /* not Crockford */
    assert_int_equal(parse_str(SITR_TOKEN_REFERENCE, conf, out), SITR_EINVAL);
    assert_string_equal(out, "");
}

static void test_parse_rejects(void **state)
{
    (void)state;
    char sec[SITR_TOKEN_MAX_LEN + 1], out[SITR_TOKEN_MAX_LEN + 1], bad[128];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, sec, sizeof sec), 0);
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, "", out), SITR_EINVAL);
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, "----", out), SITR_EINVAL);
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, NULL, 0, out, sizeof out), SITR_EINVAL);
    /* Too short, too long. */
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, sec, strlen(sec) - 1, out, sizeof out),
                     SITR_EINVAL);
    snprintf(bad, sizeof bad, "%s0", sec);
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, bad, out), SITR_EINVAL);
    /* Far too long input must not overflow anything. */
    memset(bad, 'A', sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, bad, out), SITR_EINVAL);
    /* Punctuation, NUL in the middle, non-ASCII. */
    strcpy(bad, sec);
    bad[3] = '*';
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, bad, out), SITR_EINVAL);
    strcpy(bad, sec);
    bad[3] = '\0';
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, bad, strlen(sec), out, sizeof out),
                     SITR_EINVAL);
    strcpy(bad, sec);
    bad[3] = (char)0xc3;
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, bad, out), SITR_EINVAL);
    /* Output buffer too small. */
    assert_int_equal(sitr_token_parse(SITR_TOKEN_SECRET, sec, strlen(sec), out, 10), SITR_EINVAL);
    /* The prefix is only for references. */
    snprintf(bad, sizeof bad, "SITR-%s", sec);
    assert_int_equal(parse_str(SITR_TOKEN_SECRET, bad, out), SITR_EINVAL);
}

/* Every single-symbol substitution (including the check symbol itself) and
 * every swap of two different neighbours is refused. */
static void check_errors_detected(sitr_token_kind_t kind)
{
    char tok[SITR_TOKEN_MAX_LEN + 1], bad[SITR_TOKEN_MAX_LEN + 1], out[SITR_TOKEN_MAX_LEN + 1];
    for (int round = 0; round < 20; round++) {
        assert_int_equal(sitr_token_generate(kind, tok, sizeof tok), 0);
        size_t len = strlen(tok);
        size_t first = kind == SITR_TOKEN_REFERENCE ? 5 : 0;
        for (size_t i = first; i < len; i++) {
            if (tok[i] == '-')
                continue;
            for (const char *a = alphabet; *a; a++) {
                if (*a == tok[i])
                    continue;
                strcpy(bad, tok);
                bad[i] = *a;
                assert_int_equal(parse_str(kind, bad, out), SITR_EINVAL);
            }
            size_t j = i + 1;
            if (j < len && tok[j] == '-')
                j++;
            if (j < len && tok[j] != tok[i]) {
                strcpy(bad, tok);
                bad[i] = tok[j];
                bad[j] = tok[i];
                assert_int_equal(parse_str(kind, bad, out), SITR_EINVAL);
            }
        }
    }
}

static void test_check_detects_errors(void **state)
{
    (void)state;
    check_errors_detected(SITR_TOKEN_REFERENCE);
    check_errors_detected(SITR_TOKEN_SECRET);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_format), cmocka_unit_test(test_generate_distinct),
        cmocka_unit_test(test_known_vector),    cmocka_unit_test(test_parse_tolerant),
        cmocka_unit_test(test_parse_rejects),   cmocka_unit_test(test_check_detects_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
