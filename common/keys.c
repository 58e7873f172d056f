/* Keyed digests of API keys and case secrets, new API keys, and loading
 * the digest key from configuration.
 *
 * The digest is BLAKE2b-256 keyed with the operator's digest key
 * (crypto_generichash): a stolen database cannot be used to confirm a
 * guessed secret without also stealing the key.  Nothing here logs or
 * keeps a copy of a key; temporary buffers are wiped.  Pure functions,
 * callable from any thread (libsodium is initialised on first use). */
#include <sitr/err_service.h>
#include <sitr/keys.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sitr/hex.h>

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

void sitr_keys_digest(const uint8_t key[SITR_KEYS_KEY_BYTES], const char *token,
                      uint8_t out[SITR_KEYS_DIGEST_BYTES])
{
    crypto_generichash(out, SITR_KEYS_DIGEST_BYTES, (const unsigned char *)token, strlen(token),
                       key, SITR_KEYS_KEY_BYTES);
}

void sitr_keys_new_api_key(char out[SITR_KEYS_API_KEY_SIZE])
{
    uint8_t raw[32];
    if (sodium_init() < 0)
        abort(); /* no usable randomness: refusing beats issuing weak keys */
    randombytes_buf(raw, sizeof raw);
    size_t n = strlen(SITR_KEYS_API_KEY_PREFIX);
    memcpy(out, SITR_KEYS_API_KEY_PREFIX, n);
    /* 256 bits, 5 at a time: 51 full groups and a last one of 1 bit. */
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            out[n++] = crockford[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[n++] = crockford[(acc << (5 - bits)) & 31];
    out[n] = '\0';
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(&acc, sizeof acc);
}

int sitr_keys_parse(const char *hex, uint8_t key[SITR_KEYS_KEY_BYTES], sitr_err_t *err)
{
    const char *s = hex, *e;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    uint8_t tmp[SITR_KEYS_KEY_BYTES];
    if (sitr_hex_decode(s, (size_t)(e - s), tmp, sizeof tmp) < 0)
        return sitr_err_set(err, SITR_ECONFIG,
                            "the digest key must be exactly 64 hexadecimal digits");
    static const uint8_t zero[SITR_KEYS_KEY_BYTES];
    if (sodium_memcmp(tmp, zero, sizeof tmp) == 0) {
        return sitr_err_set(err, SITR_ECONFIG, "the digest key must not be all zeros");
    }
    memcpy(key, tmp, sizeof tmp);
    sodium_memzero(tmp, sizeof tmp);
    return 0;
}

int sitr_keys_load_file(const char *path, uint8_t key[SITR_KEYS_KEY_BYTES], sitr_err_t *err)
{
    char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return sitr_err_set(err, SITR_EIO, "cannot open the digest key file %s: %s", path,
                            strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    buf[n] = '\0';
    int rc;
    if (bad)
        rc = sitr_err_set(err, SITR_ECONFIG, "the digest key file %s is unreadable or too long",
                          path);
    else
        rc = sitr_keys_parse(buf, key, err);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int sitr_keys_load(const char *hex, const char *file, uint8_t key[SITR_KEYS_KEY_BYTES],
                   sitr_err_t *err)
{
    if (hex)
        return sitr_keys_parse(hex, key, err);
    if (file)
        return sitr_keys_load_file(file, key, err);
    const char *env = getenv("SITR_DIGEST_KEY");
    if (env && *env)
        return sitr_keys_parse(env, key, err);
    env = getenv("SITR_DIGEST_KEY_FILE");
    if (env && *env)
        return sitr_keys_load_file(env, key, err);
    return sitr_err_set(err, SITR_ECONFIG,
                        "no digest key: set SITR_DIGEST_KEY (64 hex digits) or "
                        "SITR_DIGEST_KEY_FILE");
}
