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

/* The HMA bank_content_id: 53 bits, stable, per platform, per key, images
 * and videos apart; the reference values were computed with Python's
 * hashlib.blake2b (digest_size 16, the key, tag padded to 16 bytes, then
 * the platform and the id as big-endian 64-bit integers, first 8 bytes
 * big-endian masked to 53 bits). */
static void test_content_id(void **state)
{
    (void)state;
    assert_true(sitr_opaque_content_id(key1, 7, 0, 42) == UINT64_C(4052761865270248));
    assert_true(sitr_opaque_content_id(key1, 7, 1, 42) == UINT64_C(3816126546894861));
    for (int64_t id = 1; id < 500; id++) {
        uint64_t a = sitr_opaque_content_id(key1, 7, 0, id);
        assert_true(a > 0 && a < (UINT64_C(1) << 53));
        assert_true(a == sitr_opaque_content_id(key1, 7, 0, id));
        assert_true(a != sitr_opaque_content_id(key1, 8, 0, id));
        assert_true(a != sitr_opaque_content_id(key2, 7, 0, id));
        assert_true(a != sitr_opaque_content_id(key1, 7, 1, id));
        assert_true(a != sitr_opaque_content_id(key1, 7, 0, id + 1));
        /* never the row id itself */
        assert_true(a != (uint64_t)id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_video_ref),
        cmocka_unit_test(test_content_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
