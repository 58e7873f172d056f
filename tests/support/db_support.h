/* Helpers for the integration tests that need PostgreSQL: the `pg` CTest
 * fixture (tests/CMakeLists.txt) writes a libpq URL to SITR_BINARY_DIR/pg/conninfo;
 * each test creates its own fresh database there.  Synchronous libpq: these
 * run outside any event loop. */
#ifndef SITR_DB_SUPPORT_H
#define SITR_DB_SUPPORT_H

#include <libpq-fe.h>

/* The fixture's URL (to the "postgres" database); aborts the test if absent. */
char *pgt_server_url(void);
/* Creates a fresh, empty database named <prefix>_<pid>_<n>; returns its URL. */
char *pgt_create_db(const char *prefix);
/* Runs sql (no parameters); fails the test unless it succeeds.  Returns
 * the result (caller PQclear) */
PGresult *pgt_exec(const char *url, const char *sql);
/* First column of the first row as a long long (fails the test if none). */
long long pgt_scalar(const char *url, const char *sql);
/* Runs sql expecting an error with that SQLSTATE (fails the test if not). */
void pgt_expect_error(const char *url, const char *sql, const char *sqlstate);
/* How many ERROR lines the fixture's server log holds for the database of
 * db_url (a URL from pgt_create_db).  Fails the test when the log cannot be
 * read or its lines do not name their database. */
long pgt_server_errors(const char *db_url);
/* Path of the sitr-admin binary in the build tree. */
const char *pgt_admin(void);
/* Runs a command and returns its exit status (system(3)). */
int pgt_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
