/* `sitr-admin source list | withdraw NAME [--hash HEX]`: the partner lists
 * loaded by `import` (import.c), and their withdrawal.
 *
 * withdraw NAME erases every case of the source in one transaction with
 * the victims' erasure (sitr_source_withdraw, migrations/0009); --hash
 * erases only the source's images that carry that PDQ, MD5 or SHA-256 (a
 * line the partner took back).  Staged imports (stored, not yet published:
 * migrations/0012) are withdrawn with the rest; --hash refuses to touch one.
 * `source list` counts them apart.  Nothing here prints a hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/hex.h>

#include "admin.h"

/* A statement whose failure may be "no such source" (SIT03) or "an import
 * of the source is being published" (SIT05, --hash on a staged import:
 * the replicas' prepared copies must stay what the database holds). */
static PGresult *exec_source(PGconn *c, const char *sql, int n, const char *const *v,
                             const char *name)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        return r;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "SIT03") == 0)
        fprintf(stderr, "sitr-admin: no source named '%s'\n", name);
    else if (state && strcmp(state, "SIT05") == 0)
        fprintf(stderr,
                "sitr-admin: an import of source '%s' is being published; try again when it "
                "ends (an abandoned one ends with the source's next import, which discards it)\n",
                name);
    else
        fprintf(stderr, "sitr-admin: database error: %s", PQerrorMessage(c));
    PQclear(r);
    return NULL;
}

static int source_withdraw(const admin_opts_t *o, const char *name)
{
    uint8_t h[32];
    size_t hl = o->hash ? strlen(o->hash) : 0;
    if (o->hash && ((hl != 32 && hl != 64) || sitr_hex_decode(o->hash, hl, h, hl / 2) < 0)) {
        fprintf(stderr, "sitr-admin: --hash is a PDQ or SHA-256 (64 hex digits) or an MD5 (32)\n");
        return ADMIN_USAGE;
    }
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    int rc = ADMIN_FAIL;
    PGresult *r;
    if (o->hash) {
        const char *v[] = {name, o->hash};
        r = exec_source(c, "SELECT sitr_source_withdraw_hash($1, decode($2, 'hex'))", 2, v, name);
        if (r) {
            long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
            if (n)
                printf("source '%s': %ld image(s) with that hash erased\n", name, n);
            else
                printf("source '%s' holds no live image with that hash: nothing erased\n", name);
            rc = ADMIN_OK;
        }
    } else {
        const char *v[] = {name};
        r = exec_source(c, "SELECT cases_withdrawn, images_erased FROM sitr_source_withdraw($1)", 1,
                        v, name);
        if (r) {
            long cases = strtol(PQgetvalue(r, 0, 0), NULL, 10);
            if (cases == 0 && strcmp(PQgetvalue(r, 0, 1), "0") == 0)
                printf("source '%s' is withdrawn (nothing left to erase)\n", name);
            else
                printf("source '%s' withdrawn: %ld import(s), %s image(s) erased\n", name, cases,
                       PQgetvalue(r, 0, 1));
            rc = ADMIN_OK;
        }
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int source_list(const admin_opts_t *o)
{
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    PGresult *r = admin_exec(
        c,
        "SELECT name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " coalesce(to_char(withdrawn_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "'-'),"
        " imports, images,"
        " coalesce(to_char(last_import_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
        "'-'), staged FROM source_summary ORDER BY name",
        0, NULL);
    if (!r) {
        PQfinish(c);
        return ADMIN_FAIL;
    }
    printf("%-24s %-20s %-20s %8s %10s %-20s %s\n", "NAME", "CREATED", "WITHDRAWN", "IMPORTS",
           "IMAGES", "LAST IMPORT", "STAGED");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-24s %-20s %-20s %8s %10s %-20s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
               PQgetvalue(r, i, 6));
    PQclear(r);
    PQfinish(c);
    return ADMIN_OK;
}

int admin_source(const admin_opts_t *o, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "list") == 0)
        return source_list(o);
    if (argc == 2 && strcmp(argv[0], "withdraw") == 0) {
        if (!admin_valid_name(argv[1])) {
            fprintf(stderr, "sitr-admin: not a source name: '%s'\n", argv[1]);
            return ADMIN_USAGE;
        }
        return source_withdraw(o, argv[1]);
    }
    fprintf(stderr, "usage: sitr-admin source list | withdraw NAME [--hash HEX]\n");
    return ADMIN_USAGE;
}
