/* sitr-admin platform add / list / revoke / rotate-key, checked through
 * SQL: only the keyed BLAKE2b digest of the printed key is stored, a
 * rotated key replaces it, revocation is recorded, every change reaches the
 * change log, and no key ever appears in `platform list`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sitr/hex.h>
#include <sitr/keys.h>

#include "db_support.h"

#define DKEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char out_path[] = "/tmp/sitr-admin-test.out";

/* Runs sitr-admin with the test's digest key; stdout goes to out_path. */
static int admin(const char *url, const char *args)
{
    return pgt_run("SITR_DIGEST_KEY=%s '%s' --database-url '%s' %s >'%s' 2>/dev/null", DKEY,
                   pgt_admin(), url, args, out_path);
}

static void read_line(int n, char *buf, size_t size)
{
    FILE *f = fopen(out_path, "r");
    assert_non_null(f);
    buf[0] = '\0';
    for (int i = 0; i <= n; i++)
        if (!fgets(buf, (int)size, f))
            buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

static void digest_hex(const char *apikey, char out[65])
{
    uint8_t key[32], d[32];
    sitr_err_t err;
    assert_int_equal(sitr_keys_parse(DKEY, key, &err), 0);
    sitr_keys_digest(key, apikey, d);
    sitr_hex_encode(d, 32, out);
}

static void stored_digest(const char *url, const char *name, char out[65])
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT encode(key_digest, 'hex') FROM platforms WHERE name = '%s'",
             name);
    PGresult *r = pgt_exec(url, sql);
    assert_int_equal(PQntuples(r), 1);
    snprintf(out, 65, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void test_platforms(void **state)
{
    (void)state;
    char *url = pgt_create_db("tadm");
    assert_int_equal(pgt_run("'%s' migrate --database-url '%s' >/dev/null", pgt_admin(), url), 0);

    char key1[128], key2[128], secret[128], want[65], got[65];
    assert_int_equal(admin(url, "platform add acme --webhook https://acme.example/hook"), 0);
    read_line(0, key1, sizeof key1);
    read_line(1, secret, sizeof secret);
    assert_int_equal(strlen(key1), SITR_KEYS_API_KEY_SIZE - 1);
    assert_memory_equal(key1, "sitr_", 5);
    digest_hex(key1, want);
    stored_digest(url, "acme", got);
    assert_string_equal(got, want);
    /* The webhook secret is stored for signing; the API key is not. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (encode(webhook_secret, 'hex') = '%s' AND webhook_url = "
             "'https://acme.example/hook')::int FROM platforms WHERE name = 'acme'",
             secret);
    assert_int_equal(pgt_scalar(url, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM platforms p WHERE p::text LIKE '%%%s%%'",
             key1 + 5);
    assert_int_equal(pgt_scalar(url, sql), 0);

    /* Duplicates and bad names are refused and change nothing. */
    assert_int_not_equal(admin(url, "platform add acme"), 0);
    assert_int_not_equal(admin(url, "platform add 'no spaces'"), 0);
    assert_int_not_equal(admin(url, "platform add -bad"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM platforms"), 1);
    assert_int_equal(admin(url, "platform add beta"), 0);

    /* Rotation: a new key, the old digest gone. */
    assert_int_equal(admin(url, "platform rotate-key acme"), 0);
    read_line(0, key2, sizeof key2);
    assert_string_not_equal(key1, key2);
    digest_hex(key2, want);
    stored_digest(url, "acme", got);
    assert_string_equal(got, want);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM platforms WHERE key_rotated_at IS NOT "
                                     "NULL"),
                     1);

    /* The list shows names and dates, never a key. */
    assert_int_equal(admin(url, "platform list"), 0);
    char line[512];
    read_line(1, line, sizeof line);
    assert_non_null(strstr(line, "acme"));
    read_line(2, line, sizeof line);
    assert_non_null(strstr(line, "beta"));
    assert_int_equal(pgt_run("grep -q sitr_ '%s'", out_path), 1);

    /* Revocation. */
    assert_int_equal(admin(url, "platform revoke beta"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM platforms WHERE revoked_at IS NOT NULL "
                                     "AND name = 'beta'"),
                     1);
    assert_int_not_equal(admin(url, "platform revoke beta"), 0);
    assert_int_not_equal(admin(url, "platform rotate-key beta"), 0);
    assert_int_not_equal(admin(url, "platform revoke nosuch"), 0);

    /* add acme, add beta, rotate acme, revoke beta. */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes WHERE kind = "
                                     "'platform_changed'"),
                     4);

    /* No digest key: refused before touching the database. */
    assert_int_not_equal(pgt_run("env -u SITR_DIGEST_KEY -u SITR_DIGEST_KEY_FILE '%s' "
                                 "--database-url '%s' platform add gamma >/dev/null 2>&1",
                                 pgt_admin(), url),
                         0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM platforms"), 2);
    assert_int_equal(pgt_run("'%s' --help >/dev/null", pgt_admin()), 0);
    assert_int_equal(pgt_run("'%s' frobnicate >/dev/null 2>&1", pgt_admin()), 2);
    remove(out_path);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platforms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
