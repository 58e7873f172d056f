/* Migration files and the start-up schema check (see schema.h).
 *
 * Scanning reads the migrations directory with blocking calls: it runs in
 * sitr-admin, or in sitrd before the event loop serves anything.  The check
 * itself is one asynchronous query through the pool; its callback compares
 * the database's record with the files and runs on the loop thread. */
#include "db/schema.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <sitr/err_service.h>
#include <sitr/hex.h>

/* Migrations are hand-written SQL; anything bigger is a mistake. */
#define MAX_MIGRATION_BYTES (4u << 20)

void sitr_schema_checksum(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sitr_hex_encode(h, sizeof h, out);
}

int sitr_schema_read_file(const char *path, char **out, size_t *len, sitr_err_t *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sitr_err_set(err, SITR_EIO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= MAX_MIGRATION_BYTES) {
                rc = sitr_err_set(err, SITR_ETOOBIG, "%s is larger than %u bytes", path,
                                  MAX_MIGRATION_BYTES);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = sitr_err_set(err, SITR_EIO, "cannot read %s", path);
            break;
        }
    }
    fclose(f);
    if (!buf)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int cmp_version(const void *a, const void *b)
{
    const sitr_migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* "NNNN_name.sql" -> version; -1 when the name does not follow the rule. */
static int parse_name(const char *name)
{
    size_t len = strlen(name), i = 0;
    long v = 0;
    while (name[i] >= '0' && name[i] <= '9' && i < 9)
        v = v * 10 + (name[i++] - '0');
    if (i == 0 || name[i] != '_' || len < 5 || strcmp(name + len - 4, ".sql") != 0 || v <= 0)
        return -1;
    return (int)v;
}

int sitr_schema_scan(const char *dir, sitr_migrations_t *out, sitr_err_t *err)
{
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return sitr_err_set(err, SITR_EIO, "cannot open the migrations directory %s: %s", dir,
                            strerror(errno));
    int cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int v = parse_name(e->d_name);
        if (v < 0)
            continue;
        if (strlen(e->d_name) >= sizeof out->v[0].file) {
            rc = sitr_err_set(err, SITR_ECONFIG, "migration file name too long: %s", e->d_name);
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            sitr_migration_t *nv = realloc(out->v, (size_t)cap * sizeof *nv);
            if (!nv) {
                rc = sitr_err_set(err, SITR_ENOMEM, "out of memory");
                break;
            }
            out->v = nv;
        }
        sitr_migration_t *m = &out->v[out->n++];
        memset(m, 0, sizeof *m);
        m->version = v;
        snprintf(m->file, sizeof m->file, "%s", e->d_name);
    }
    closedir(d);
    if (rc == 0 && out->n == 0)
        rc = sitr_err_set(err, SITR_ECONFIG, "no migrations (NNNN_name.sql) in %s", dir);
    if (rc == 0) {
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_version);
        for (int i = 1; i < out->n && rc == 0; i++)
            if (out->v[i].version == out->v[i - 1].version)
                rc = sitr_err_set(err, SITR_ECONFIG, "%s and %s have the same version",
                                  out->v[i - 1].file, out->v[i].file);
    }
    for (int i = 0; i < out->n && rc == 0; i++) {
        char path[4096], *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, out->v[i].file);
        rc = sitr_schema_read_file(path, &buf, &len, err);
        if (rc == 0) {
            sitr_schema_checksum(buf, len, out->v[i].checksum);
            free(buf);
        }
    }
    if (rc < 0)
        sitr_schema_free(out);
    return rc;
}

void sitr_schema_free(sitr_migrations_t *m)
{
    if (!m)
        return;
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

typedef struct check {
    const sitr_migrations_t *files; /* borrowed */
    sitr_schema_cb cb;
    void *arg;
} check_t;

static void on_checked(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    check_t *c = arg;
    char msg[512];
    const char *out = NULL;
    if (rc == SITR_EDB && sqlstate && strcmp(sqlstate, "42P01") == 0) {
        rc = SITR_ESCHEMA;
        snprintf(msg, sizeof msg,
                 "the database has no sitr schema: run `sitr-admin migrate` first");
        out = msg;
    } else if (rc == 0) {
        int nrows = PQntuples(res);
        for (int i = 0; i < c->files->n && !out; i++) {
            const sitr_migration_t *m = &c->files->v[i];
            int found = -1;
            for (int r = 0; r < nrows; r++)
                if (atoi(PQgetvalue(res, r, 0)) == m->version)
                    found = r;
            if (found < 0) {
                snprintf(msg, sizeof msg,
                         "the database schema is behind: %s is not applied; "
                         "run `sitr-admin migrate`",
                         m->file);
                out = msg;
            } else if (strcmp(PQgetvalue(res, found, 1), m->checksum) != 0) {
                snprintf(msg, sizeof msg,
                         "migration %s differs from the one applied to the database "
                         "(edited after it was applied?); migrations are never edited, "
                         "fix forward with a new file",
                         m->file);
                out = msg;
            }
        }
        if (out) {
            rc = SITR_ESCHEMA;
        } else {
            for (int r = 0; r < nrows && !out; r++) {
                int v = atoi(PQgetvalue(res, r, 0)), known = 0;
                for (int i = 0; i < c->files->n; i++)
                    known |= c->files->v[i].version == v;
                if (!known) {
                    snprintf(msg, sizeof msg,
                             "the database has migration %d, unknown to this binary "
                             "(it is newer than this sitrd)",
                             v);
                    out = msg;
                }
            }
        }
    }
    c->cb(rc, out, c->arg);
    free(c);
}

int sitr_schema_check(sitr_db_t *db, const sitr_migrations_t *files, sitr_schema_cb cb, void *arg,
                      sitr_err_t *err)
{
    check_t *c = calloc(1, sizeof *c);
    if (!c)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    c->files = files;
    int rc;
    c->cb = cb;
    c->arg = arg;
    rc = sitr_db_submit(db, "SELECT version, checksum FROM schema_migrations ORDER BY version", 0,
                        NULL, on_checked, c);
    if (rc < 0) {
        free(c);
        return sitr_err_set(err, rc, "cannot query schema_migrations: %s", sitr_strerror(rc));
    }
    return 0;
}
