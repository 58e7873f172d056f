/* Opaque per-platform tokens and takedown-list cursors (see opaque.h).
 *
 * Invariants: every value is derived with the operator's digest key under a
 * domain tag distinct for each use, so a ref, a case token and a cursor can
 * never be confused with each other or with the keyed digests of secrets.
 * Stateless: safe from any thread. */
#include <sitr/opaque.h>

#include <sodium.h>
#include <string.h>

#define TOKEN_BYTES  20
#define CURSOR_BYTES 16

static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* out[outlen] = BLAKE2b(key, tag || platform || id).  Tags are fixed-width
 * (16 bytes) so no two (tag, values) pairs share a message. */
static void keyed(const uint8_t *key, const char *tag, int64_t platform_id, int64_t id,
                  uint8_t *out, size_t outlen)
{
    uint8_t msg[32];
    memset(msg, 0, 16);
    memcpy(msg, tag, strlen(tag) < 16 ? strlen(tag) : 16);
    put_be64(msg + 16, (uint64_t)platform_id);
    put_be64(msg + 24, (uint64_t)id);
    crypto_generichash(out, outlen, msg, sizeof msg, key, SITR_KEYS_KEY_BYTES);
}

/* Base32 of n bytes, most significant bit first, zero-padded at the end. */
static void base32(const uint8_t *in, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

void sitr_opaque_ref(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                     int64_t case_image_id, char out[SITR_OPAQUE_TOKEN_LEN + 1])
{
    uint8_t d[TOKEN_BYTES];
    keyed(key, "sitr/match-ref/1", platform_id, case_image_id, d, sizeof d);
    base32(d, sizeof d, out);
}

/* A case video's ref: its own tag, so a video's token never equals the
 * token of the case image that happens to have the same row id. */
void sitr_opaque_video_ref(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                           int64_t case_video_id, char out[SITR_OPAQUE_TOKEN_LEN + 1])
{
    uint8_t d[TOKEN_BYTES];
    keyed(key, "sitr/video-ref/1", platform_id, case_video_id, d, sizeof d);
    base32(d, sizeof d, out);
}

uint64_t sitr_opaque_content_id(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                                int is_video, int64_t id)
{
    uint8_t d[16];
    keyed(key, is_video ? "sitr/hma-vid/1" : "sitr/hma-img/1", platform_id, id, d, sizeof d);
    uint64_t v = get_be64(d) & ((UINT64_C(1) << 53) - 1);
    /* 0 would read as "no id" to some clients: fold it onto 1 (a chance of
     * 2^-53 per id, and ids stay distinct with overwhelming probability). */
    return v ? v : 1;
}

void sitr_opaque_case_token(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                            int64_t case_id, char out[SITR_OPAQUE_TOKEN_LEN + 1])
{
    uint8_t d[TOKEN_BYTES];
    keyed(key, "sitr/case-tok/1", platform_id, case_id, d, sizeof d);
    base32(d, sizeof d, out);
}

static void cursor_mac(const uint8_t *key, int64_t platform_id, int64_t last_id, uint8_t mac[8])
{
    uint8_t d[16]; /* BLAKE2b's shortest output; the first 8 bytes suffice */
    keyed(key, "sitr/cursor/1", platform_id, last_id, d, sizeof d);
    memcpy(mac, d, 8);
}

void sitr_opaque_cursor_encode(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                               int64_t last_id, char out[SITR_OPAQUE_CURSOR_LEN + 1])
{
    uint8_t raw[CURSOR_BYTES];
    put_be64(raw, (uint64_t)last_id);
    cursor_mac(key, platform_id, last_id, raw + 8);
    base32(raw, sizeof raw, out);
}

int sitr_opaque_cursor_decode(const uint8_t key[SITR_KEYS_KEY_BYTES], int64_t platform_id,
                              const char *s, int64_t *last_id)
{
    if (!s || strlen(s) != SITR_OPAQUE_CURSOR_LEN)
        return -1;
    uint8_t raw[CURSOR_BYTES + 1] = {0};
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < SITR_OPAQUE_CURSOR_LEN; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        const char *pos = c ? strchr(b32, c) : NULL;
        if (!pos)
            return -1;
        acc = (acc << 5) | (uint32_t)(pos - b32);
        bits += 5;
        if (bits >= 8) {
            raw[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    /* 26 symbols carry 130 bits: the last 2 are padding and must be zero. */
    if (o != CURSOR_BYTES || (acc & ((1u << bits) - 1)) != 0)
        return -1;
    uint64_t id = get_be64(raw);
    uint8_t mac[8];
    if (id > (uint64_t)INT64_MAX)
        return -1;
    cursor_mac(key, platform_id, (int64_t)id, mac);
    if (sodium_memcmp(mac, raw + 8, 8) != 0)
        return -1;
    *last_id = (int64_t)id;
    return 0;
}
