/* `sitr-admin platform add|list|revoke|rotate-key`.
 *
 * An API key is shown exactly once, on stdout, when it is created; the
 * database keeps only its keyed BLAKE2b digest (keys.h), so a lost key is
 * replaced with rotate-key, never recovered.  Every change also appends a
 * 'platform_changed' row to the change log (same transaction) so running
 * sitrd replicas drop cached credentials at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sitr/hex.h>
#include <sitr/keys.h>
#include <sitr/webhook_url.h>

#include "admin.h"

static int load_key(const admin_opts_t *o, uint8_t key[SITR_KEYS_KEY_BYTES])
{
    sitr_err_t err;
    if (sitr_keys_load(NULL, o->digest_key_file, key, &err) < 0) {
        fprintf(stderr, "sitr-admin: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* New key: returns the key text and writes "\\x<hex digest>" for SQL. */
static void new_key(const uint8_t dkey[SITR_KEYS_KEY_BYTES], char apikey[SITR_KEYS_API_KEY_SIZE],
                    char digest_sql[3 + 64 + 1])
{
    uint8_t d[SITR_KEYS_DIGEST_BYTES];
    sitr_keys_new_api_key(apikey);
    sitr_keys_digest(dkey, apikey, d);
    memcpy(digest_sql, "\\x", 2);
    sitr_hex_encode(d, sizeof d, digest_sql + 2);
}

/* Runs stmt (returning one row with the platform id) and logs the change,
 * in one transaction.  Returns 1 when a row was changed, 0 when none, -1 on
 * error. */
static int change(PGconn *c, const char *stmt, int n, const char *const *v)
{
    if (admin_cmd(c, "BEGIN", 0, NULL) < 0)
        return -1;
    PGresult *r = admin_exec(c, stmt, n, v);
    if (!r) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        PQclear(PQexec(c, "ROLLBACK"));
        return 0;
    }
    const char *id[] = {PQgetvalue(r, 0, 0)};
    int rc = admin_cmd(c, "SELECT sitr_change_log('platform_changed', ARRAY[$1::bigint])", 1, id);
    PQclear(r);
    if (rc == 0)
        rc = admin_cmd(c, "COMMIT", 0, NULL);
    if (rc < 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    return 1;
}

static int platform_add(const admin_opts_t *o, const char *name)
{
    if (!admin_valid_name(name)) {
        fprintf(stderr, "sitr-admin: a platform name is 1-64 characters: letters, digits, "
                        "and . _ - after the first\n");
        return ADMIN_USAGE;
    }
    if (o->webhook && !sitr_webhook_url_ok(o->webhook)) {
        fprintf(stderr, "sitr-admin: --webhook must be an http:// or https:// URL with a host, "
                        "at most 2048 characters, without spaces or control characters\n");
        return ADMIN_USAGE;
    }
    uint8_t dkey[SITR_KEYS_KEY_BYTES];
    if (load_key(o, dkey) < 0)
        return ADMIN_FAIL;
    PGconn *c = admin_connect(o);
    if (!c) {
        sodium_memzero(dkey, sizeof dkey);
        return ADMIN_FAIL;
    }
    char apikey[SITR_KEYS_API_KEY_SIZE], digest[3 + 64 + 1], secret_sql[3 + 64 + 1];
    char secret_hex[65];
    new_key(dkey, apikey, digest);
    sodium_memzero(dkey, sizeof dkey);
    uint8_t wsecret[32];
    randombytes_buf(wsecret, sizeof wsecret);
    sitr_hex_encode(wsecret, sizeof wsecret, secret_hex);
    snprintf(secret_sql, sizeof secret_sql, "\\x%s", secret_hex);
    const char *v[] = {name, digest, o->webhook, o->webhook ? secret_sql : NULL};
    /* Checked first for a clear message; the unique index still decides. */
    const char *nv[] = {name};
    PGresult *r = admin_exec(c, "SELECT 1 FROM platforms WHERE name = $1", 1, nv);
    int rc = ADMIN_FAIL;
    if (r && PQntuples(r) > 0) {
        fprintf(stderr, "sitr-admin: a platform named '%s' already exists\n", name);
    } else if (r) {
        int ch = change(c,
                        "INSERT INTO platforms (name, key_digest, webhook_url, webhook_secret) "
                        "VALUES ($1, $2::bytea, $3, $4::bytea) RETURNING id",
                        4, v);
        if (ch == 1) {
            fprintf(stderr,
                    "platform '%s' added. Its API key is shown only now; store it "
                    "safely:\n",
                    name);
            printf("%s\n", apikey);
            if (o->webhook) {
                fprintf(stderr, "webhook signing secret (HMAC-SHA256), also shown only now:\n");
                printf("%s\n", secret_hex);
            }
            fflush(stdout);
            rc = ADMIN_OK;
        }
    }
    PQclear(r);
    sodium_memzero(apikey, sizeof apikey);
    sodium_memzero(secret_hex, sizeof secret_hex);
    sodium_memzero(secret_sql, sizeof secret_sql);
    sodium_memzero(wsecret, sizeof wsecret);
    PQfinish(c);
    return rc;
}

static int platform_list(const admin_opts_t *o)
{
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    PGresult *r = admin_exec(
        c,
        "SELECT name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'),"
        " coalesce(to_char(key_rotated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "'-'),"
        " coalesce(webhook_url, '-') FROM platforms ORDER BY name",
        0, NULL);
    if (!r) {
        PQfinish(c);
        return ADMIN_FAIL;
    }
    printf("%-24s %-20s %-20s %-20s %s\n", "NAME", "CREATED", "REVOKED", "KEY ROTATED", "WEBHOOK");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-24s %-20s %-20s %-20s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    PQfinish(c);
    return ADMIN_OK;
}

/* Why an UPDATE matched nothing: unknown or revoked. */
static void explain_missing(PGconn *c, const char *name)
{
    const char *v[] = {name};
    PGresult *r =
        admin_exec(c, "SELECT revoked_at IS NOT NULL FROM platforms WHERE name = $1", 1, v);
    if (r && PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        fprintf(stderr, "sitr-admin: platform '%s' is revoked\n", name);
    else if (r)
        fprintf(stderr, "sitr-admin: no platform named '%s'\n", name);
    PQclear(r);
}

static int platform_revoke(const admin_opts_t *o, const char *name)
{
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    const char *v[] = {name};
    int ch = change(c,
                    "UPDATE platforms SET revoked_at = now() "
                    "WHERE name = $1 AND revoked_at IS NULL RETURNING id",
                    1, v);
    if (ch == 1)
        fprintf(stderr, "platform '%s' revoked\n", name);
    else if (ch == 0)
        explain_missing(c, name);
    PQfinish(c);
    return ch == 1 ? ADMIN_OK : ADMIN_FAIL;
}

static int platform_rotate(const admin_opts_t *o, const char *name)
{
    uint8_t dkey[SITR_KEYS_KEY_BYTES];
    if (load_key(o, dkey) < 0)
        return ADMIN_FAIL;
    PGconn *c = admin_connect(o);
    if (!c) {
        sodium_memzero(dkey, sizeof dkey);
        return ADMIN_FAIL;
    }
    char apikey[SITR_KEYS_API_KEY_SIZE], digest[3 + 64 + 1];
    new_key(dkey, apikey, digest);
    sodium_memzero(dkey, sizeof dkey);
    const char *v[] = {name, digest};
    int ch = change(c,
                    "UPDATE platforms SET key_digest = $2::bytea, key_rotated_at = now() "
                    "WHERE name = $1 AND revoked_at IS NULL RETURNING id",
                    2, v);
    if (ch == 1) {
        fprintf(stderr, "new API key for '%s' (the old one no longer works), shown only now:\n",
                name);
        printf("%s\n", apikey);
        fflush(stdout);
    } else if (ch == 0) {
        explain_missing(c, name);
    }
    sodium_memzero(apikey, sizeof apikey);
    PQfinish(c);
    return ch == 1 ? ADMIN_OK : ADMIN_FAIL;
}

int admin_platform(const admin_opts_t *o, int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "sitr-admin: libsodium failed to initialise\n");
        return ADMIN_FAIL;
    }
    if (argc == 2 && strcmp(argv[0], "add") == 0)
        return platform_add(o, argv[1]);
    if (argc == 1 && strcmp(argv[0], "list") == 0)
        return platform_list(o);
    if (argc == 2 && strcmp(argv[0], "revoke") == 0)
        return platform_revoke(o, argv[1]);
    if (argc == 2 && strcmp(argv[0], "rotate-key") == 0)
        return platform_rotate(o, argv[1]);
    fprintf(stderr, "usage: sitr-admin platform add NAME [--webhook URL] | list | revoke NAME | "
                    "rotate-key NAME\n");
    return ADMIN_USAGE;
}
