/* Unit tests of the webhook sender's pure parts (service/webhook.h): the
 * X-Sitr-Signature value against an HMAC-SHA256 computed independently
 * (OpenSSL: printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -mac
 * HMAC -macopt hexkey:0001...1f), the backoff schedule and its cap, and
 * the webhook URL check shared with the documentation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include <sitr/hex.h>
#include <sitr/webhook_url.h>

#include "jobs/webhook.h"

static void key_0_to_31(uint8_t k[32])
{
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)i;
}

static void test_sign_known_answer(void **state)
{
    (void)state;
    uint8_t k[32];
    key_0_to_31(k);
    char sig[SITR_WEBHOOK_SIGNATURE_MAX];
    const char *body = "{\"a\":1}";
    assert_int_equal(sitr_webhook_sign(k, 1700000000, body, strlen(body), sig), 0);
    assert_string_equal(sig, "t=1700000000,v1="
                             "03348adc068f3e120398d321e294ed21d5531ba19808733437c88c51d9ffdb14");
}

static void test_sign_matches_one_shot(void **state)
{
    (void)state;
    uint8_t k[32];
    randombytes_buf(k, sizeof k);
    const char *body = "{\"event\":\"takedown.created\",\"takedown\":{\"id\":\"7\"}}";
    char sig[SITR_WEBHOOK_SIGNATURE_MAX];
    assert_int_equal(sitr_webhook_sign(k, 42, body, strlen(body), sig), 0);
    char msg[256];
    int n = snprintf(msg, sizeof msg, "42.%s", body);
    uint8_t mac[32];
    crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (unsigned long long)n, k);
    char want[2 + 2 + 4 + 64 + 1], hex[65];
    sitr_hex_encode(mac, 32, hex);
    hex[64] = '\0';
    snprintf(want, sizeof want, "t=42,v1=%s", hex);
    assert_string_equal(sig, want);
    /* Any change of the body or the time changes the signature. */
    char other[SITR_WEBHOOK_SIGNATURE_MAX];
    assert_int_equal(sitr_webhook_sign(k, 43, body, strlen(body), other), 0);
    assert_string_not_equal(strchr(sig, ','), strchr(other, ','));
    assert_int_equal(sitr_webhook_sign(k, 42, body, strlen(body) - 1, other), 0);
    assert_string_not_equal(sig, other);
    assert_int_equal(sitr_webhook_sign(k, -1, body, strlen(body), other), SITR_EINVAL);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(sitr_webhook_backoff_ms(1, 10000, 3600000), 10000);
    assert_int_equal(sitr_webhook_backoff_ms(2, 10000, 3600000), 20000);
    assert_int_equal(sitr_webhook_backoff_ms(3, 10000, 3600000), 40000);
    assert_int_equal(sitr_webhook_backoff_ms(9, 10000, 3600000), 2560000);
    assert_int_equal(sitr_webhook_backoff_ms(10, 10000, 3600000), 3600000);
    assert_int_equal(sitr_webhook_backoff_ms(20, 10000, 3600000), 3600000);
    assert_int_equal(sitr_webhook_backoff_ms(1000, 10000, 3600000), 3600000);
    assert_int_equal(sitr_webhook_backoff_ms(0, 10000, 3600000), 10000);
    assert_int_equal(sitr_webhook_backoff_ms(5, 50, 50), 50);
    /* Never beyond the cap, never wrapping. */
    assert_int_equal(sitr_webhook_backoff_ms(4000000000u, 86400000, 86400000), 86400000);
}

static void test_url(void **state)
{
    (void)state;
    assert_true(sitr_webhook_url_ok("https://hooks.example.org/sitr"));
    assert_true(sitr_webhook_url_ok("http://127.0.0.1:8081/x?y=1"));
    assert_true(sitr_webhook_url_ok("https://[::1]:8443/"));
    assert_false(sitr_webhook_url_ok(NULL));
    assert_false(sitr_webhook_url_ok(""));
    assert_false(sitr_webhook_url_ok("ftp://example.org/"));
    assert_false(sitr_webhook_url_ok("file:///etc/passwd"));
    assert_false(sitr_webhook_url_ok("HTTPS://example.org/")); /* as the schema's check */
    assert_false(sitr_webhook_url_ok("https://"));
    assert_false(sitr_webhook_url_ok("https:///path"));
    assert_false(sitr_webhook_url_ok("http://:80/"));
    assert_false(sitr_webhook_url_ok("https://exa mple.org/"));
    assert_false(sitr_webhook_url_ok("https://example.org/\r\nX-Evil: 1"));
    char longurl[2100];
    memset(longurl, 'a', sizeof longurl);
    memcpy(longurl, "https://", 8);
    longurl[2048] = '\0';
    assert_true(sitr_webhook_url_ok(longurl));
    longurl[2048] = 'a';
    longurl[2049] = '\0';
    assert_false(sitr_webhook_url_ok(longurl));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_known_answer),
        cmocka_unit_test(test_sign_matches_one_shot),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
