/* Keyed digests (checked against vectors computed independently with
 * Python's hashlib.blake2b(key=..., digest_size=32)), API key format and
 * digest key loading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sitr/err_service.h>
#include <sitr/hex.h>
#include <sitr/keys.h>

static void test_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *token, *hex;
    } v[] = {
        {"", "4e51e7a913fc80137da52880fecca175bf81e117d5c68126dc2774033517ea0d"},
        {"sitr_abc", "1d69f9e61d545a53370234c045ec6817234983f3b76b7932e6d8bc6209f55c83"},
        {"case-secret-1234", "9ad55ec3464fa383c5fbde025f737a493de2fb7b950bd811318af957f84ca208"},
    };
    uint8_t key[32], out[32];
    char hex[65];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sitr_keys_digest(key, v[i].token, out);
        sitr_hex_encode(out, 32, hex);
        assert_string_equal(hex, v[i].hex);
    }
}

static void test_api_key(void **state)
{
    (void)state;
    char a[SITR_KEYS_API_KEY_SIZE], b[SITR_KEYS_API_KEY_SIZE];
    sitr_keys_new_api_key(a);
    sitr_keys_new_api_key(b);
    assert_int_equal(strlen(a), SITR_KEYS_API_KEY_SIZE - 1);
    assert_memory_equal(a, "sitr_", 5);
    for (size_t i = 5; a[i]; i++)
        assert_non_null(strchr("0123456789abcdefghjkmnpqrstvwxyz", a[i]));
    /* The last character carries 1 bit: only '0' or 'g'. */
    assert_true(a[56] == '0' || a[56] == 'g');
    assert_string_not_equal(a, b);
}

static void test_parse(void **state)
{
    (void)state;
    uint8_t key[32];
    sitr_err_t err;
    const char *good = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    assert_int_equal(sitr_keys_parse(good, key, &err), 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key[i], i);
    char padded[80];
    snprintf(padded, sizeof padded, "  %s\n", good);
    assert_int_equal(sitr_keys_parse(padded, key, &err), 0);
    assert_int_equal(sitr_keys_parse("abcd", key, &err), SITR_ECONFIG);
    assert_int_equal(
        sitr_keys_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", key,
                        &err),
        SITR_ECONFIG);
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    assert_int_equal(sitr_keys_parse(zeros, key, &err), SITR_ECONFIG);
    /* The message never echoes the key. */
    assert_null(strstr(err.msg, zeros));
}

static void test_load(void **state)
{
    (void)state;
    uint8_t key[32];
    sitr_err_t err;
    char path[] = "/tmp/sitr-keytest.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *hex = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";
    assert_int_equal(write(fd, hex, strlen(hex)), (int)strlen(hex));
    close(fd);

    unsetenv("SITR_DIGEST_KEY");
    unsetenv("SITR_DIGEST_KEY_FILE");
    assert_int_equal(sitr_keys_load(NULL, NULL, key, &err), SITR_ECONFIG);
    setenv("SITR_DIGEST_KEY_FILE", path, 1);
    assert_int_equal(sitr_keys_load(NULL, NULL, key, &err), 0);
    assert_int_equal(key[0], 0xff);
    assert_int_equal(key[31], 0x00);
    setenv("SITR_DIGEST_KEY", "0101010101010101010101010101010101010101010101010101010101010101",
           1);
    assert_int_equal(sitr_keys_load(NULL, NULL, key, &err), 0);
    assert_int_equal(key[0], 0x01);
    assert_int_equal(sitr_keys_load(NULL, path, key, &err), 0);
    assert_int_equal(key[0], 0xff);
    assert_int_equal(sitr_keys_load_file("/nonexistent/key", key, &err), SITR_EIO);
    unlink(path);
    unsetenv("SITR_DIGEST_KEY");
    unsetenv("SITR_DIGEST_KEY_FILE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
