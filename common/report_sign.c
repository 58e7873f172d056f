/* Signed evidence reports: RFC 8785 canonical JSON, Ed25519 (libsodium),
 * the key file, the verification code.  Contract in sitr/report_sign.h. */
#include <sitr/report_sign.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <sitr/hex.h>

/* ---- RFC 8785 ---------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
    int failed;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A string with JCS's escapes: \" \\ \b \f \n \r \t, \u00xx (lower-case
 * hex) for the other control characters, every other character as is. */
static void put_string(buf_t *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(u, sizeof u, "\\u%04x", c);
            esc = u;
        }
        if (esc) {
            put(b, s + run, i - run);
            puts_(b, esc);
            run = i + 1;
        }
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

/* A double as ECMAScript's Number::toString prints it (RFC 8785 3.2.2.3):
 * the shortest digits that read back as the same double, then plain or
 * exponent notation by the decimal exponent.  -1 for NaN/Infinity. */
static int put_double(buf_t *b, double v)
{
    if (!isfinite(v))
        return -1;
    if (v == 0) {
        puts_(b, "0");
        return 0;
    }
    if (v < 0) {
        puts_(b, "-");
        v = -v;
    }
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e is "d.ddde[+-]xx": digits and exponent. */
    char digits[20];
    int k = 0;
    const char *q = e;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[k++] = *q;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    int n = atoi(q + 1) + 1; /* v = 0.digits x 10^n */
    char out[64];
    if (k <= n && n <= 21) {
        snprintf(out, sizeof out, "%s%.*s", digits, n - k, "000000000000000000000");
    } else if (0 < n && n <= 21) {
        snprintf(out, sizeof out, "%.*s.%s", n, digits, digits + n);
    } else if (-6 < n && n <= 0) {
        snprintf(out, sizeof out, "0.%.*s%s", -n, "000000", digits);
    } else {
        snprintf(out, sizeof out, "%c%s%se%c%d", digits[0], k > 1 ? "." : "", digits + 1,
                 n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    puts_(b, out);
    return 0;
}

/* Next UTF-16 code unit of a UTF-8 string (for ordering member names);
 * *pending holds the low surrogate of a supplementary character. */
static unsigned next_unit(const unsigned char **s, const unsigned char *end, unsigned *pending)
{
    if (*pending) {
        unsigned u = *pending;
        *pending = 0;
        return u;
    }
    unsigned c = *(*s)++;
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (more)
        c &= 0x3f >> more;
    while (more-- > 0 && *s < end)
        c = (c << 6) | (*(*s)++ & 0x3f);
    if (c >= 0x10000) {
        c -= 0x10000;
        *pending = 0xdc00 + (c & 0x3ff);
        return 0xd800 + (c >> 10);
    }
    return c;
}

static int name_cmp(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    const unsigned char *xe = x + strlen(a), *ye = y + strlen(b);
    unsigned px = 0, py = 0;
    while ((x < xe || px) && (y < ye || py)) {
        unsigned ux = next_unit(&x, xe, &px), uy = next_unit(&y, ye, &py);
        if (ux != uy)
            return ux < uy ? -1 : 1;
    }
    return (x < xe || px) ? 1 : (y < ye || py) ? -1 : 0;
}

static int put_value(buf_t *b, const json_t *v, int depth)
{
    if (depth > 64)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **names = n ? malloc(n * sizeof *names) : NULL;
        if (n && !names) {
            b->failed = 1;
            return -1;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) names[i++] = key;
        qsort(names, n, sizeof *names, name_cmp);
        put(b, "{", 1);
        int rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            if (i)
                put(b, ",", 1);
            put_string(b, names[i], strlen(names[i]));
            put(b, ":", 1);
            rc = put_value(b, json_object_get(v, names[i]), depth + 1);
        }
        put(b, "}", 1);
        free(names);
        return rc;
    }
    case JSON_ARRAY: {
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(b, ",", 1);
            if (put_value(b, json_array_get(v, i), depth + 1) < 0)
                return -1;
        }
        put(b, "]", 1);
        return 0;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER: {
        json_int_t x = json_integer_value(v);
        /* JSON numbers are doubles to JCS: exact below 2^53. */
        if (x > -(1LL << 53) && x < (1LL << 53)) {
            char s[32];
            snprintf(s, sizeof s, "%lld", (long long)x);
            puts_(b, s);
            return 0;
        }
        return put_double(b, (double)x);
    }
    case JSON_REAL:
        return put_double(b, json_real_value(v));
    case JSON_TRUE:
        puts_(b, "true");
        return 0;
    case JSON_FALSE:
        puts_(b, "false");
        return 0;
    case JSON_NULL:
        puts_(b, "null");
        return 0;
    }
    return -1;
}

char *sitr_jcs(const json_t *v, size_t *len)
{
    buf_t b = {0};
    if (put_value(&b, v, 0) < 0 || b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

/* ---- keys -------------------------------------------------------------------- */

void sitr_sign_key_wipe(sitr_sign_key_t *key)
{
    sodium_memzero(key, sizeof *key);
}

int sitr_sign_key_load(const char *path, sitr_sign_key_t *key, sitr_err_t *err)
{
    sitr_sign_key_wipe(key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sitr_err_set(err, SITR_ECONFIG, "report signing key: cannot open %s: %s", path,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sitr_err_set(err, SITR_ECONFIG, "report signing key: %s is not a file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return sitr_err_set(err, SITR_ECONFIG,
                            "report signing key: %s can be read by others (mode %03o); "
                            "chmod 600 it",
                            path, (unsigned)(st.st_mode & 0777));
    }
    char text[128];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0)
        return sitr_err_set(err, SITR_EIO, "report signing key: %s: %s", path, strerror(errno));
    size_t len = (size_t)n;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    uint8_t seed[crypto_sign_SEEDBYTES];
    int rc = 0;
    if (len != 2 * sizeof seed || sitr_hex_decode(text, len, seed, sizeof seed) < 0)
        rc = sitr_err_set(err, SITR_ECONFIG,
                          "report signing key: %s does not hold 64 hex digits (make one with "
                          "sitr-admin key generate)",
                          path);
    else
        crypto_sign_seed_keypair(key->pk, key->sk, seed);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(text, sizeof text);
    return rc;
}

int sitr_sign_key_create(const char *path, sitr_sign_key_t *key, sitr_err_t *err)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    char text[2 * sizeof seed + 2];
    randombytes_buf(seed, sizeof seed);
    sodium_bin2hex(text, sizeof text, seed, sizeof seed);
    strcat(text, "\n");
    crypto_sign_seed_keypair(key->pk, key->sk, seed);
    sodium_memzero(seed, sizeof seed);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = sitr_err_set(err, SITR_EIO, "cannot create %s: %s", path, strerror(errno));
    } else {
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
            rc = sitr_err_set(err, SITR_EIO, "cannot write %s: %s", path, strerror(errno));
        if (close(fd) < 0 && rc == 0)
            rc = sitr_err_set(err, SITR_EIO, "cannot write %s: %s", path, strerror(errno));
        if (rc < 0)
            unlink(path);
    }
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        sitr_sign_key_wipe(key);
    return rc;
}

void sitr_sign_key_id(const uint8_t pk[SITR_SIGN_PK_BYTES], char out[SITR_SIGN_KEY_ID])
{
    uint8_t d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, pk, SITR_SIGN_PK_BYTES);
    sodium_bin2hex(out, SITR_SIGN_KEY_ID, d, (SITR_SIGN_KEY_ID - 1) / 2);
}

void sitr_sign_pk_base64(const uint8_t pk[SITR_SIGN_PK_BYTES], char out[SITR_SIGN_PK_B64])
{
    sodium_bin2base64(out, SITR_SIGN_PK_B64, pk, SITR_SIGN_PK_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

static int from_base64(const char *b64, uint8_t *out, size_t want)
{
    size_t n = 0;
    if (!b64 ||
        sodium_base642bin(out, want, b64, strlen(b64), " \n", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != want)
        return SITR_EINVAL;
    return 0;
}

int sitr_sign_pk_parse(const char *b64, uint8_t pk[SITR_SIGN_PK_BYTES])
{
    return from_base64(b64, pk, SITR_SIGN_PK_BYTES);
}

/* XXXX-XXXX-XXXX: the first 60 bits of SHA-256(signature), Crockford
 * base32 in capitals (no I, L, O, U). */
static void verification_code(const uint8_t sig[SITR_SIGN_SIG_BYTES], char out[SITR_SIGN_CODE])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint8_t d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, sig, SITR_SIGN_SIG_BYTES);
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = (bits << 8) | d[i];
    int o = 0;
    for (int i = 0; i < 12; i++) {
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = alphabet[(bits >> (59 - 5 * i)) & 31];
    }
    out[o] = '\0';
}

/* ---- signing and verifying ----------------------------------------------------- */

/* The signed bytes: the report without "signature", canonical. */
static char *signed_bytes(const json_t *report, size_t *len)
{
    json_t *copy = json_copy((json_t *)report);
    if (!copy)
        return NULL;
    json_object_del(copy, "signature");
    char *s = sitr_jcs(copy, len);
    json_decref(copy);
    return s;
}

int sitr_report_sign(json_t *report, const sitr_sign_key_t *key)
{
    if (!json_is_object(report))
        return SITR_EINVAL;
    size_t len;
    char *msg = signed_bytes(report, &len);
    if (!msg)
        return SITR_EINVAL;
    uint8_t sig[SITR_SIGN_SIG_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, len, key->sk);
    free(msg);
    char id[SITR_SIGN_KEY_ID], pk[SITR_SIGN_PK_B64], code[SITR_SIGN_CODE];
    char value[sodium_base64_ENCODED_LEN(SITR_SIGN_SIG_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sitr_sign_key_id(key->pk, id);
    sitr_sign_pk_base64(key->pk, pk);
    sodium_bin2base64(value, sizeof value, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    verification_code(sig, code);
    json_t *s = json_pack("{s:s,s:s,s:s,s:s,s:s}", "alg", "Ed25519", "key_id", id, "public_key", pk,
                          "value", value, "code", code);
    if (!s || json_object_set_new(report, "signature", s) < 0)
        return SITR_ENOMEM;
    return 0;
}

sitr_report_verdict_t sitr_report_check(const json_t *report, const uint8_t *pinned,
                                        char key_id[SITR_SIGN_KEY_ID], char code[SITR_SIGN_CODE])
{
    key_id[0] = code[0] = '\0';
    const json_t *s = json_object_get(report, "signature");
    if (!json_is_object(s))
        return SITR_REPORT_UNSIGNED;
    const char *alg = json_string_value(json_object_get(s, "alg"));
    uint8_t pk[SITR_SIGN_PK_BYTES], sig[SITR_SIGN_SIG_BYTES];
    if (!alg || strcmp(alg, "Ed25519") != 0 ||
        sitr_sign_pk_parse(json_string_value(json_object_get(s, "public_key")), pk) < 0 ||
        from_base64(json_string_value(json_object_get(s, "value")), sig, sizeof sig) < 0)
        return SITR_REPORT_MALFORMED;
    sitr_sign_key_id(pk, key_id);
    verification_code(sig, code);
    if (pinned && sodium_memcmp(pinned, pk, SITR_SIGN_PK_BYTES) != 0)
        return SITR_REPORT_OTHER_KEY;
    size_t len;
    char *msg = signed_bytes(report, &len);
    if (!msg)
        return SITR_REPORT_UNREADABLE;
    int ok = crypto_sign_verify_detached(sig, (const uint8_t *)msg, len, pk) == 0;
    free(msg);
    return ok ? SITR_REPORT_GENUINE : SITR_REPORT_CHANGED;
}

int sitr_report_verify(const json_t *report, const uint8_t *pinned, char key_id[SITR_SIGN_KEY_ID],
                       char code[SITR_SIGN_CODE], sitr_err_t *err)
{
    switch (sitr_report_check(report, pinned, key_id, code)) {
    case SITR_REPORT_GENUINE:
        return 0;
    case SITR_REPORT_UNSIGNED:
        return sitr_err_set(err, SITR_EINVAL, "the report is not signed");
    case SITR_REPORT_MALFORMED:
        return sitr_err_set(err, SITR_EINVAL, "the report's signature is malformed");
    case SITR_REPORT_OTHER_KEY:
        return sitr_err_set(err, SITR_EINVAL,
                            "the report was signed with another key (%s), not the operator's",
                            key_id);
    case SITR_REPORT_UNREADABLE:
        return sitr_err_set(err, SITR_EINVAL, "the report cannot be read as signed JSON");
    case SITR_REPORT_CHANGED:
        break;
    }
    return sitr_err_set(err, SITR_EINVAL,
                        "the signature does not match: the report was changed after it was "
                        "signed, or it is not genuine");
}
