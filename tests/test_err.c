/* The error code table: every code maps to its own message, codes are
 * distinct negatives, and sitr_err_set fills the detail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <sitr/err.h>

static void test_messages_match_codes(void **state)
{
    (void)state;
    assert_string_equal(sitr_strerror(0), "success");
    assert_string_equal(sitr_strerror(SITR_ENOMEM), "out of memory");
    assert_string_equal(sitr_strerror(SITR_ECORRUPT), "corrupt or truncated image");
    assert_string_equal(sitr_strerror(SITR_ETOOSMALL), "image too small to hash");
    assert_string_equal(sitr_strerror(SITR_EINTERNAL), "internal error");
    assert_int_equal(SITR_ENOMEM, -1);
    assert_int_equal(SITR_EINTERNAL, -24); /* codes are appended, never renumbered */
    assert_int_equal(SITR_ESMALLVIDEO, -SITR_ERR_COUNT_);
    assert_string_equal(sitr_strerror(SITR_EBADVIDEO), "corrupt or truncated video");
    assert_string_equal(sitr_strerror(-SITR_ERR_COUNT_ - 1), "unknown error");
    assert_string_equal(sitr_strerror(1), "unknown error");
}

static void test_err_set(void **state)
{
    (void)state;
    sitr_err_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(sitr_err_set(&err, SITR_EHEX, "bad digit at %d", 7), SITR_EHEX);
    assert_int_equal(err.code, SITR_EHEX);
    assert_string_equal(err.msg, "bad digit at 7");
    assert_int_equal(sitr_err_set(NULL, SITR_EIO, "ignored"), SITR_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_match_codes),
        cmocka_unit_test(test_err_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
