/* The migration files of migrations/ and the check that the database has
 * applied exactly them.
 *
 * A migration is a file NNNN_<name>.sql (NNNN: its version, a positive
 * integer); its checksum is the lower-case hex SHA-256 of its bytes.
 * `sitr-admin migrate` records (version, name, checksum) in
 * schema_migrations; sitrd checks the record at start and refuses to run
 * on a schema that is behind or was edited. */
#ifndef SITR_SCHEMA_H
#define SITR_SCHEMA_H

#include <stddef.h>
#include <sitr/err.h>
#include <sitr/err_service.h>

#include "db/db.h"

typedef struct sitr_migration {
    int version;
    char file[256];    /* base name, e.g. "0001_schema.sql" */
    char checksum[65]; /* hex SHA-256 of the file */
} sitr_migration_t;

typedef struct sitr_migrations {
    sitr_migration_t *v; /* sorted by version */
    int n;
} sitr_migrations_t;

/* Lists and checksums the migrations of dir (blocking file reads: call
 * before the loop runs, or from a CLI).  Two files with one version,
 * or none at all, are errors (SITR_ECONFIG); unreadable: SITR_EIO.
 * Free with sitr_schema_free. */
SITR_MUST_CHECK int sitr_schema_scan(const char *dir, sitr_migrations_t *out, sitr_err_t *err);
void sitr_schema_free(sitr_migrations_t *m);

/* Reads a whole file (NUL-terminated; caller frees).  SITR_EIO/SITR_ETOOBIG. */
SITR_MUST_CHECK int sitr_schema_read_file(const char *path, char **out, size_t *len,
                                          sitr_err_t *err);
/* out = hex SHA-256 of data. */
void sitr_schema_checksum(const void *data, size_t len, char out[65]);

/* Completion of sitr_schema_check: rc 0 when every migration of dir is
 * applied with its checksum; SITR_ESCHEMA when one is missing or differs
 * (message says which and to run `sitr-admin migrate`), SITR_EDB /
 * SITR_ETIMEOUT / SITR_ECLOSED when the database could not answer.  With
 * rc 0, message is NULL or a warning (the database knows migrations this
 * binary does not: it is newer).  message is borrowed for the call. */
typedef void (*sitr_schema_cb)(int rc, const char *message, void *arg);

/* Asks the database, asynchronously, whether it has applied exactly files
 * (from sitr_schema_scan, done once at start; borrowed: it must outlive the
 * callback).  Returns < 0 (err filled, cb never called) when the query
 * cannot be queued; else cb runs once. */
SITR_MUST_CHECK int sitr_schema_check(sitr_db_t *db, const sitr_migrations_t *files,
                                      sitr_schema_cb cb, void *arg, sitr_err_t *err);

#endif
