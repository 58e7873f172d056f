/* The wiping allocator given to jansson: JSON still parses, packs and
 * dumps through it, blocks of every size come back usable, and freeing
 * NULL is harmless. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <sitr/secmem.h>

static void test_json_round_trip(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s, s:i}", "secret", "ABCDE-FGHJK", "images", 3);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    assert_string_equal(text, "{\"images\":3,\"secret\":\"ABCDE-FGHJK\"}");
    json_error_t err;
    json_t *back = json_loads(text, 0, &err);
    assert_non_null(back);
    assert_true(json_equal(j, back));
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(text);
    f(NULL);
    json_decref(back);
    json_decref(j);
}

static void test_many_sizes(void **state)
{
    (void)state;
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    for (size_t n = 0; n < 70000; n = n * 2 + 1) {
        unsigned char *p = m(n);
        assert_non_null(p);
        memset(p, 0xa5, n);
        f(p);
    }
}

int main(void)
{
    sitr_secmem_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_many_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
