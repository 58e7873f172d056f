/* Unit tests for the opaque per-platform refs: image and video refs are
 * stable per platform, differ across platforms and keys, and live in
 * separate namespaces (the same row id never gives the same token for an
 * image and a video, nor for a case token). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <sitr/opaque.h>

static const uint8_t key1[SITR_KEYS_KEY_BYTES] = {1, 2, 3};
static const uint8_t key2[SITR_KEYS_KEY_BYTES] = {1, 2, 4};

static void test_video_ref(void **state)
{
    (void)state;
    char v[SITR_OPAQUE_TOKEN_LEN + 1], w[SITR_OPAQUE_TOKEN_LEN + 1];
    char img[SITR_OPAQUE_TOKEN_LEN + 1], cas[SITR_OPAQUE_TOKEN_LEN + 1];
    for (int64_t id = 1; id < 200; id++) {
        sitr_opaque_video_ref(key1, 7, id, v);
        assert_int_equal(strlen(v), SITR_OPAQUE_TOKEN_LEN);
        assert_int_equal(strspn(v, "0123456789abcdefghjkmnpqrstvwxyz"), SITR_OPAQUE_TOKEN_LEN);
        sitr_opaque_video_ref(key1, 7, id, w);
        assert_string_equal(v, w); /* stable */
        sitr_opaque_video_ref(key1, 8, id, w);
        assert_string_not_equal(v, w); /* another platform */
        sitr_opaque_video_ref(key2, 7, id, w);
        assert_string_not_equal(v, w); /* another key */
        sitr_opaque_video_ref(key1, 7, id + 1, w);
        assert_string_not_equal(v, w); /* another video */
        /* Separate namespaces: the image and the case with the same id. */
        sitr_opaque_ref(key1, 7, id, img);
        sitr_opaque_case_token(key1, 7, id, cas);
        assert_string_not_equal(v, img);
        assert_string_not_equal(v, cas);
        assert_string_not_equal(img, cas);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_video_ref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
