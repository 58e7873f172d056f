/* Unit tests for the token buckets, with an injected clock: burst, refill,
 * Retry-After values, check without spending, address grouping (IPv4, IPv6
 * /64), the memory bound and LRU eviction, costs (including costs beyond
 * the burst, which leave a debt), integer identities, (address, target)
 * pairs and rates per second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>

#include "core/ratelimit.h"

#define HOUR_MS 3600000ull

static sitr_ratelimit_t *make(unsigned per_hour, unsigned burst, size_t cap)
{
    sitr_ratelimit_t *rl = NULL;
    assert_int_equal(sitr_ratelimit_new(per_hour, burst, cap, &rl), 0);
    assert_non_null(rl);
    return rl;
}

static void test_burst_then_refill(void **state)
{
    (void)state;
    /* 6 per hour: one token every 600 s. */
    sitr_ratelimit_t *rl = make(6, 3, 100);
    uint64_t t = 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t), 0);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t), 600);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t + 1), 600); /* 599.999 s rounds up */
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t + 1000), 599);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t + 599000), 1);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t + 599999), 1);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t + 600000), 0);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t + 600000), 600);
    /* A long pause refills only up to the burst. */
    t += 100 * HOUR_MS;
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", t), 0);
    assert_true(sitr_ratelimit_take(rl, "192.0.2.1", t) > 0);
    /* Another address is unaffected. */
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.2", t), 0);
    sitr_ratelimit_free(rl);
}

static void test_refused_costs_nothing(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = make(3600, 1, 10); /* one per second */
    assert_int_equal(sitr_ratelimit_take(rl, "198.51.100.7", 0), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sitr_ratelimit_take(rl, "198.51.100.7", 500), 1);
    /* Refusals did not push the next token further away. */
    assert_int_equal(sitr_ratelimit_take(rl, "198.51.100.7", 1000), 0);
    sitr_ratelimit_free(rl);
}

static void test_check_does_not_spend(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = make(60, 2, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sitr_ratelimit_check(rl, "203.0.113.9", 0), 0);
    assert_int_equal(sitr_ratelimit_take(rl, "203.0.113.9", 0), 0);
    assert_int_equal(sitr_ratelimit_take(rl, "203.0.113.9", 0), 0);
    assert_int_equal(sitr_ratelimit_check(rl, "203.0.113.9", 0), 60);
    assert_int_equal(sitr_ratelimit_check(rl, "203.0.113.9", 30000), 30);
    assert_int_equal(sitr_ratelimit_check(rl, "203.0.113.9", 60000), 0);
    assert_int_equal(sitr_ratelimit_check(rl, "203.0.113.9", 60000), 0);
    sitr_ratelimit_free(rl);
}

static void test_disabled_and_clock(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = make(0, 1, 4);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", 0), 0);
    sitr_ratelimit_free(rl);
    sitr_ratelimit_free(NULL);

    rl = make(3600, 1, 4);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", 5000), 0);
    /* A clock going backwards gives nothing back and breaks nothing. */
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", 1000), 1);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", 6000), 0);
    sitr_ratelimit_free(rl);

    sitr_ratelimit_t *bad = NULL;
    assert_int_equal(sitr_ratelimit_new(1, 1, 0, &bad), SITR_EINVAL);
    assert_null(bad);
}

static void test_ipv6_grouping(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = make(1, 1, 10);
    assert_int_equal(sitr_ratelimit_take(rl, "2001:db8:1:2::1", 0), 0);
    /* Same /64, different host part: same bucket. */
    assert_true(sitr_ratelimit_take(rl, "2001:db8:1:2:ffff:ffff:ffff:fffe", 0) > 0);
    /* Neighbouring /64: its own bucket. */
    assert_int_equal(sitr_ratelimit_take(rl, "2001:db8:1:3::1", 0), 0);
    /* IPv4 and its IPv4-mapped IPv6 form are one host; mapped addresses
     * are not cut to /64 (that would lump all of IPv4 together). */
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.10", 0), 0);
    assert_true(sitr_ratelimit_take(rl, "::ffff:192.0.2.10", 0) > 0);
    assert_int_equal(sitr_ratelimit_take(rl, "::ffff:192.0.2.11", 0), 0);
    /* Text that is not an address still groups with itself. */
    assert_int_equal(sitr_ratelimit_take(rl, "unix-socket", 0), 0);
    assert_true(sitr_ratelimit_take(rl, "unix-socket", 0) > 0);
    assert_int_equal(sitr_ratelimit_take(rl, NULL, 0), 0);
    assert_int_equal(sitr_ratelimit_size(rl), 6);
    sitr_ratelimit_free(rl);
}

static void test_bounded_lru(void **state)
{
    (void)state;
    const size_t cap = 64;
    sitr_ratelimit_t *rl = make(1, 1, cap);
    char addr[32];
    /* Exhaust the bucket of 10.0.0.0 .. 10.0.0.63. */
    for (size_t i = 0; i < cap; i++) {
        snprintf(addr, sizeof addr, "10.0.0.%zu", i);
        assert_int_equal(sitr_ratelimit_take(rl, addr, 0), 0);
    }
    assert_int_equal(sitr_ratelimit_size(rl), cap);
    /* Touch 10.0.0.0 so that 10.0.0.1 becomes the oldest. */
    assert_true(sitr_ratelimit_take(rl, "10.0.0.0", 0) > 0);
    /* A newcomer evicts exactly the oldest. */
    assert_int_equal(sitr_ratelimit_take(rl, "10.0.1.0", 0), 0);
    assert_int_equal(sitr_ratelimit_size(rl), cap);
    assert_true(sitr_ratelimit_check(rl, "10.0.0.0", 0) > 0);
    assert_true(sitr_ratelimit_check(rl, "10.0.0.2", 0) > 0);
    assert_true(sitr_ratelimit_check(rl, "10.0.1.0", 0) > 0);
    /* 10.0.0.1 was forgotten: it starts again with a full bucket (and its
     * return evicts the next oldest, 10.0.0.3 - 10.0.0.2 was just checked). */
    assert_int_equal(sitr_ratelimit_check(rl, "10.0.0.1", 0), 0);
    assert_int_equal(sitr_ratelimit_check(rl, "10.0.0.3", 0), 0);
    /* Many more addresses than slots: the size never exceeds the cap and
     * the most recent ones are remembered. */
    for (size_t i = 0; i < 20000; i++) {
        snprintf(addr, sizeof addr, "172.16.%zu.%zu", i / 256, i % 256);
        assert_int_equal(sitr_ratelimit_take(rl, addr, 0), 0);
        assert_true(sitr_ratelimit_size(rl) <= cap);
    }
    for (size_t i = 20000 - cap; i < 20000; i++) {
        snprintf(addr, sizeof addr, "172.16.%zu.%zu", i / 256, i % 256);
        assert_true(sitr_ratelimit_check(rl, addr, 0) > 0);
    }
    sitr_ratelimit_free(rl);
}

static void test_cost(void **state)
{
    (void)state;
    /* 10 per second (one token every 100 ms), burst 20. */
    sitr_ratelimit_t *rl = NULL;
    assert_int_equal(sitr_ratelimit_new_per_second(10, 20, 16, &rl), 0);
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 15, 0), 0);
    /* 5 left: a cost of 6 waits for one more token (100 ms -> 1 s). */
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 6, 0), 1);
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 5, 0), 0);
    assert_int_equal(sitr_ratelimit_take(rl, "192.0.2.1", 0), 1);
    /* 20 tokens need 2 s; 1999 ms is not enough. */
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 20, 1000), 1);
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 20, 1999), 1);
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 20, 2000), 0);
    /* cost 0 counts as 1. */
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 0, 2000), 1);
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 0, 2100), 0);
    assert_int_equal(sitr_ratelimit_take_n(rl, "192.0.2.1", 0, 2100), 1);
    sitr_ratelimit_free(rl);
}

static void test_cost_beyond_burst_leaves_debt(void **state)
{
    (void)state;
    /* 10 per second, burst 20: a batch of 100 cannot ever fit in the bucket. */
    sitr_ratelimit_t *rl = NULL;
    assert_int_equal(sitr_ratelimit_new_per_second(10, 20, 16, &rl), 0);
    /* Not full: refused, with the wait until it is full (1 token short). */
    assert_int_equal(sitr_ratelimit_take(rl, "198.51.100.1", 0), 0);
    assert_int_equal(sitr_ratelimit_take_n(rl, "198.51.100.1", 100, 0), 1);
    /* Full: allowed, and the bucket is now 80 tokens in debt.  The next
     * single token is 81 tokens away: 8.1 s -> 9 s. */
    assert_int_equal(sitr_ratelimit_take_n(rl, "198.51.100.1", 100, 100), 0);
    assert_int_equal(sitr_ratelimit_take(rl, "198.51.100.1", 100), 9);
    assert_int_equal(sitr_ratelimit_check(rl, "198.51.100.1", 100 + 8099), 1);
    assert_int_equal(sitr_ratelimit_take(rl, "198.51.100.1", 100 + 8100), 0);
    /* Over a long run the batches get exactly the configured rate: a batch
     * of 100 every 10 s (100 tokens at 10/s) and no faster. */
    sitr_ratelimit_t *r2 = NULL;
    assert_int_equal(sitr_ratelimit_new_per_second(10, 20, 16, &r2), 0);
    uint64_t t = 0;
    unsigned allowed = 0;
    for (int step = 0; step < 1000; step++, t += 100)
        allowed += sitr_ratelimit_take_n(r2, "198.51.100.2", 100, t) == 0;
    /* 100 s at 10/s = 1000 tokens + the initial burst of 20: 10 batches
     * (the debt of the last may remain). */
    assert_int_equal(allowed, 10);
    sitr_ratelimit_free(r2);
    sitr_ratelimit_free(rl);
}

static void test_ids(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = NULL;
    assert_int_equal(sitr_ratelimit_new_per_second(1, 2, 4, &rl), 0);
    assert_int_equal(sitr_ratelimit_take_id(rl, 7, 2, 0), 0);
    assert_int_equal(sitr_ratelimit_check_id(rl, 7, 1, 0), 1);
    assert_int_equal(sitr_ratelimit_take_id(rl, 7, 1, 0), 1);
    /* Other identities have their own buckets, including ids that differ
     * only in their high bytes, and negative ones. */
    assert_int_equal(sitr_ratelimit_take_id(rl, 8, 2, 0), 0);
    assert_int_equal(sitr_ratelimit_take_id(rl, 7 + ((int64_t)1 << 40), 2, 0), 0);
    assert_int_equal(sitr_ratelimit_take_id(rl, -7, 2, 0), 0);
    assert_int_equal(sitr_ratelimit_size(rl), 4);
    /* Check never spends. */
    assert_int_equal(sitr_ratelimit_check_id(rl, 8, 1, 1000), 0);
    assert_int_equal(sitr_ratelimit_check_id(rl, 8, 1, 1000), 0);
    assert_int_equal(sitr_ratelimit_check_id(rl, 8, 2, 1000), 1);
    sitr_ratelimit_free(rl);
}

static void test_per_second_bounds(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = NULL;
    assert_int_equal(sitr_ratelimit_new_per_second(SITR_RATELIMIT_MAX_PER_SECOND + 1, 1, 4, &rl),
                     SITR_EINVAL);
    assert_null(rl);
    /* The largest rate: a million a second, no overflow over a long idle time. */
    assert_int_equal(sitr_ratelimit_new_per_second(SITR_RATELIMIT_MAX_PER_SECOND, 3, 4, &rl), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_ratelimit_take_id(rl, 1, 1, 0), 0);
    assert_int_equal(sitr_ratelimit_take_id(rl, 1, 1, 0), 1);
    assert_int_equal(sitr_ratelimit_take_id(rl, 1, 1, 1), 0);
    assert_int_equal(sitr_ratelimit_take_id(rl, 1, 3, UINT64_MAX / 2), 0);
    assert_int_equal(sitr_ratelimit_take_id(rl, 1, 1, UINT64_MAX / 2), 1);
    /* A huge cost leaves a huge debt: about 4295 s at a million a second. */
    assert_int_equal(sitr_ratelimit_take_id(rl, 1, UINT32_MAX, UINT64_MAX), 0);
    assert_true(sitr_ratelimit_check_id(rl, 1, 1, UINT64_MAX) >= 4294);
    sitr_ratelimit_free(rl);
    /* Zero disables. */
    assert_int_equal(sitr_ratelimit_new_per_second(0, 1, 4, &rl), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sitr_ratelimit_take_id(rl, 1, 1000, 0), 0);
    sitr_ratelimit_free(rl);
}

/* (address, target) pairs: each pair has its own bucket; the address is
 * grouped as usual (an IPv6 /64); checking spends nothing; a target is any
 * bytes, so a digest with a NUL inside is fine. */
static void test_pairs(void **state)
{
    (void)state;
    sitr_ratelimit_t *rl = make(60, 3, 100);
    const char x[] = "SITR-AAAA", y[] = "SITR-BBBB";
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_ratelimit_take_pair(rl, "192.0.2.1", x, sizeof x - 1, 0), 0);
    assert_int_equal(sitr_ratelimit_check_pair(rl, "192.0.2.1", x, sizeof x - 1, 0), 60);
    assert_int_equal(sitr_ratelimit_take_pair(rl, "192.0.2.1", x, sizeof x - 1, 0), 60);
    /* another target from the same address, the same target elsewhere */
    assert_int_equal(sitr_ratelimit_check_pair(rl, "192.0.2.1", y, sizeof y - 1, 0), 0);
    assert_int_equal(sitr_ratelimit_check_pair(rl, "192.0.2.2", x, sizeof x - 1, 0), 0);
    /* a prefix of the target is another target */
    assert_int_equal(sitr_ratelimit_check_pair(rl, "192.0.2.1", x, sizeof x - 2, 0), 0);
    /* the plain address bucket is not the pair's */
    assert_int_equal(sitr_ratelimit_check(rl, "192.0.2.1", 0), 0);
    /* one /64 is one address for pairs too */
    const uint8_t digest[4] = {1, 0, 2, 0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_ratelimit_take_pair(rl, "2001:db8:1:2::1", digest, 4, 0), 0);
    assert_true(sitr_ratelimit_check_pair(rl, "2001:db8:1:2:ffff::9", digest, 4, 0) > 0);
    assert_int_equal(sitr_ratelimit_check_pair(rl, "2001:db8:1:3::1", digest, 4, 0), 0);
    /* refill: one a minute */
    assert_int_equal(sitr_ratelimit_take_pair(rl, "192.0.2.1", x, sizeof x - 1, 60000), 0);
    sitr_ratelimit_free(rl);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_refused_costs_nothing),
        cmocka_unit_test(test_check_does_not_spend),
        cmocka_unit_test(test_disabled_and_clock),
        cmocka_unit_test(test_ipv6_grouping),
        cmocka_unit_test(test_bounded_lru),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_cost_beyond_burst_leaves_debt),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_per_second_bounds),
        cmocka_unit_test(test_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
