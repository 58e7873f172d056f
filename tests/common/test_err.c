/* The error code tables: every code maps to its own message, codes are
 * distinct negatives (the library's from -1, the programs' from -101), and
 * sitr_err_set fills the detail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <sitr/err.h>
#include <sitr/err_service.h>

static void test_messages_match_codes(void **state)
{
    (void)state;
    assert_string_equal(sitr_strerror(0), "success");
    assert_string_equal(sitr_strerror(SITR_ENOMEM), "out of memory");
    assert_string_equal(sitr_strerror(SITR_ECORRUPT), "corrupt or truncated image");
    assert_string_equal(sitr_strerror(SITR_ETOOSMALL), "image too small to hash");
    assert_string_equal(sitr_strerror(SITR_EINTERNAL), "internal error");
    assert_int_equal(SITR_ENOMEM, -1);
    assert_int_equal(SITR_EINTERNAL, -14); /* codes are appended, never renumbered */
    assert_int_equal(SITR_ESMALLVIDEO, -SITR_ERR_COUNT_);
    assert_string_equal(sitr_strerror(SITR_EBADVIDEO), "corrupt or truncated video");
    assert_string_equal(sitr_strerror(-SITR_ERR_COUNT_ - 1), "unknown error");
    assert_string_equal(sitr_strerror(1), "unknown error");
}

static void test_service_codes_have_their_own_range(void **state)
{
    (void)state;
    assert_int_equal(SITR_EDB, -SITR_ERR_SERVICE_BASE - 1);
    assert_int_equal(SITR_EREFUSED, -SITR_ERR_SERVICE_BASE - SITR_ERR_SERVICE_COUNT_ + 1);
    assert_int_equal(SITR_EUNAVAIL, -SITR_ERR_SERVICE_BASE - SITR_ERR_SERVICE_COUNT_);
    assert_string_equal(sitr_strerror(SITR_EDB), "database error");
    assert_string_equal(sitr_strerror(SITR_ETIMEOUT), "timed out");
    assert_string_equal(sitr_strerror(SITR_ECLOSED), "connection closed");
    assert_string_equal(sitr_strerror(SITR_ECONFIG), "invalid configuration");
    assert_string_equal(sitr_strerror(SITR_EREFUSED), "the database refused the statement's data");
    assert_string_equal(sitr_strerror(SITR_EUNAVAIL), "database unreachable");
    assert_string_equal(sitr_strerror(-SITR_ERR_SERVICE_BASE), "unknown error");
    assert_string_equal(sitr_strerror(-SITR_ERR_SERVICE_BASE - SITR_ERR_SERVICE_COUNT_ - 1),
                        "unknown error");
    /* Every code of both lists has a message of its own. */
    const int codes[] = {
#define CODE_(name, msg) SITR_E##name,
        SITR_ERRNO_MAP(CODE_) SITR_ERRNO_SERVICE_MAP(CODE_)
#undef CODE_
    };
    const char *const msgs[] = {
#define MSG_(name, msg) msg,
        SITR_ERRNO_MAP(MSG_) SITR_ERRNO_SERVICE_MAP(MSG_)
#undef MSG_
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_true(codes[i] < 0);
        assert_string_equal(sitr_strerror(codes[i]), msgs[i]);
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(codes[i], codes[j]);
    }
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
        cmocka_unit_test(test_service_codes_have_their_own_range),
        cmocka_unit_test(test_err_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
