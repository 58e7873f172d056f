/* `sitr-admin migrate` and `sitr-admin status`.
 *
 * Migrations are applied in version order, each file in its own
 * transaction together with its schema_migrations row (version, name,
 * SHA-256 of the file).  Before anything is applied, the record is checked
 * against the directory: an applied file that is missing or whose checksum
 * changed stops everything, because the database would no longer match
 * what the files say.  A session advisory lock keeps two concurrent runs
 * from applying the same file twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "db/schema.h"

#define MIGRATE_LOCK "1936290932"

typedef struct applied {
    int version;
    char name[256];
    char checksum[65];
    char at[64];
} applied_t;

static int load_applied(PGconn *c, applied_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    PGresult *r =
        admin_exec(c,
                   "SELECT version, name, checksum, "
                   "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                   "FROM schema_migrations ORDER BY version",
                   0, NULL);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    applied_t *a = calloc((size_t)rows + 1, sizeof *a);
    if (!a) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        a[i].version = atoi(PQgetvalue(r, i, 0));
        snprintf(a[i].name, sizeof a[i].name, "%s", PQgetvalue(r, i, 1));
        snprintf(a[i].checksum, sizeof a[i].checksum, "%s", PQgetvalue(r, i, 2));
        snprintf(a[i].at, sizeof a[i].at, "%s", PQgetvalue(r, i, 3));
    }
    PQclear(r);
    *out = a;
    *n = rows;
    return 0;
}

static const sitr_migration_t *find_file(const sitr_migrations_t *m, int version)
{
    for (int i = 0; i < m->n; i++)
        if (m->v[i].version == version)
            return &m->v[i];
    return NULL;
}

static const applied_t *find_applied(const applied_t *a, int n, int version)
{
    for (int i = 0; i < n; i++)
        if (a[i].version == version)
            return &a[i];
    return NULL;
}

/* Reports every inconsistency; returns how many there are. */
static int verify(const sitr_migrations_t *m, const applied_t *a, int n, const char *dir)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const sitr_migration_t *f = find_file(m, a[i].version);
        if (!f) {
            fprintf(stderr,
                    "sitr-admin: migration %s (version %d) is applied but missing from %s\n",
                    a[i].name, a[i].version, dir);
            bad++;
        } else if (strcmp(f->checksum, a[i].checksum) != 0) {
            fprintf(stderr,
                    "sitr-admin: %s was edited after it was applied (checksum differs); "
                    "never edit an applied migration: restore it and fix forward with a new "
                    "file\n",
                    f->file);
            bad++;
        }
    }
    return bad;
}

static const char create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version integer PRIMARY KEY CHECK (version > 0),"
                                   " name text NOT NULL,"
                                   " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
                                   " applied_at timestamptz NOT NULL DEFAULT now())";

static int apply_one(PGconn *c, const char *dir, const sitr_migration_t *m)
{
    char path[4096], *sql;
    size_t len;
    sitr_err_t err;
    snprintf(path, sizeof path, "%s/%s", dir, m->file);
    if (sitr_schema_read_file(path, &sql, &len, &err) < 0) {
        fprintf(stderr, "sitr-admin: %s\n", err.msg);
        return -1;
    }
    char check[65];
    sitr_schema_checksum(sql, len, check);
    if (strcmp(check, m->checksum) != 0) {
        fprintf(stderr, "sitr-admin: %s changed while migrating\n", m->file);
        free(sql);
        return -1;
    }
    if (strlen(sql) != len) {
        fprintf(stderr, "sitr-admin: %s contains a NUL byte\n", m->file);
        free(sql);
        return -1;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *v[] = {version, m->file, m->checksum};
    int rc = admin_cmd(c, "BEGIN", 0, NULL);
    if (rc == 0) {
        /* The file is ours (not user input) and may hold many statements:
         * the simple query protocol runs them all inside this transaction. */
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "sitr-admin: %s failed: %s", m->file, PQerrorMessage(c));
            rc = -1;
        }
        PQclear(r);
    }
    if (rc == 0)
        rc = admin_cmd(c,
                       "INSERT INTO schema_migrations (version, name, checksum) "
                       "VALUES ($1::int, $2, $3)",
                       3, v);
    if (rc == 0)
        rc = admin_cmd(c, "COMMIT", 0, NULL);
    if (rc < 0)
        PQclear(PQexec(c, "ROLLBACK"));
    free(sql);
    return rc;
}

static int prepare(const admin_opts_t *o, PGconn **c, sitr_migrations_t *m, applied_t **a, int *n)
{
    sitr_err_t err;
    if (sitr_schema_scan(o->dir, m, &err) < 0) {
        fprintf(stderr, "sitr-admin: %s\n", err.msg);
        return -1;
    }
    *c = admin_connect(o);
    if (!*c)
        return -1;
    if (admin_cmd(*c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", 0, NULL) < 0 ||
        admin_cmd(*c, create_table, 0, NULL) < 0 || load_applied(*c, a, n) < 0)
        return -1;
    return 0;
}

int admin_migrate(const admin_opts_t *o)
{
    PGconn *c = NULL;
    sitr_migrations_t m = {0};
    applied_t *a = NULL;
    int n = 0, rc = ADMIN_FAIL;
    if (prepare(o, &c, &m, &a, &n) < 0)
        goto out;
    if (verify(&m, a, n, o->dir) > 0) {
        fprintf(stderr, "sitr-admin: refusing to migrate\n");
        goto out;
    }
    int done = 0;
    for (int i = 0; i < m.n; i++) {
        if (find_applied(a, n, m.v[i].version))
            continue;
        if (apply_one(c, o->dir, &m.v[i]) < 0) {
            fprintf(stderr, "sitr-admin: stopped; %d migration(s) applied in this run\n", done);
            goto out;
        }
        printf("applied %s\n", m.v[i].file);
        done++;
    }
    if (done == 0)
        printf("schema is up to date (%d migration(s))\n", m.n);
    rc = ADMIN_OK;
out:
    free(a);
    sitr_schema_free(&m);
    PQfinish(c);
    return rc;
}

int admin_status(const admin_opts_t *o)
{
    PGconn *c = NULL;
    sitr_migrations_t m = {0};
    applied_t *a = NULL;
    int n = 0, rc = ADMIN_FAIL;
    if (prepare(o, &c, &m, &a, &n) < 0)
        goto out;
    int pending = 0;
    for (int i = 0; i < m.n; i++) {
        const applied_t *x = find_applied(a, n, m.v[i].version);
        if (x)
            printf("%-40s applied %s%s\n", m.v[i].file, x->at,
                   strcmp(x->checksum, m.v[i].checksum) ? " (EDITED since)" : "");
        else
            printf("%-40s pending\n", m.v[i].file);
        pending += !x;
    }
    for (int i = 0; i < n; i++)
        if (!find_file(&m, a[i].version))
            printf("%-40s applied %s (MISSING from %s)\n", a[i].name, a[i].at, o->dir);
    if (verify(&m, a, n, o->dir) > 0)
        rc = ADMIN_FAIL;
    else if (pending > 0) {
        printf("%d pending: run `sitr-admin migrate`\n", pending);
        rc = ADMIN_PENDING;
    } else {
        rc = ADMIN_OK;
    }
out:
    free(a);
    sitr_schema_free(&m);
    PQfinish(c);
    return rc;
}
