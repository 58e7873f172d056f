/* See test_db_support.h. */
#include "db_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

char *pgt_server_url(void)
{
    char path[4096], buf[1024];
    snprintf(path, sizeof path, "%s/pg/conninfo", SITR_BINARY_DIR);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("no %s: is the pg fixture running (ctest, FIXTURES pg)?", path);
    if (!fgets(buf, sizeof buf, f)) {
        fclose(f);
        fail_msg("empty %s", path);
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return strdup(buf);
}

char *pgt_create_db(const char *prefix)
{
    static int n;
    char *server = pgt_server_url();
    char name[128], sql[256];
    snprintf(name, sizeof name, "%s_%d_%d", prefix, (int)getpid(), n++);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    PQclear(pgt_exec(server, sql));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PQclear(pgt_exec(server, sql));
    char *slash = strrchr(server, '/');
    assert_non_null(slash);
    *slash = '\0';
    size_t len = strlen(server) + strlen(name) + 2;
    char *url = malloc(len);
    snprintf(url, len, "%s/%s", server, name);
    free(server);
    return url;
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

PGresult *pgt_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQfinish(c);
    return r;
}

long long pgt_scalar(const char *url, const char *sql)
{
    PGresult *r = pgt_exec(url, sql);
    if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
        fail_msg("no value from %s", sql);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int pgt_run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

void pgt_expect_error(const char *url, const char *sql, const char *sqlstate)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (PQresultStatus(r) != PGRES_FATAL_ERROR || !st || strcmp(st, sqlstate) != 0)
        fail_msg("%s: expected SQLSTATE %s, got %s (%s)", sql, sqlstate, st ? st : "none",
                 PQresStatus(PQresultStatus(r)));
    PQclear(r);
    PQfinish(c);
}

const char *pgt_admin(void)
{
    return SITR_BINARY_DIR "/tools/sitr-admin";
}

/* The fixture's server log: DIR/server.log, DIR being where tools/pg-local
 * put the cluster (pg/location when it moved it to /tmp). */
static void server_log_path(char *out, size_t cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/pg", SITR_BINARY_DIR);
    FILE *f = fopen(SITR_BINARY_DIR "/pg/location", "r");
    if (f) {
        if (fgets(dir, sizeof dir, f))
            dir[strcspn(dir, "\r\n")] = '\0';
        fclose(f);
    }
    snprintf(out, cap, "%s/server.log", dir);
}

long pgt_server_errors(const char *db_url)
{
    /* Lines name their database only with the fixture's log_line_prefix. */
    char *server = pgt_server_url();
    PGresult *r = pgt_exec(server, "SHOW log_line_prefix");
    free(server);
    int named = strstr(PQgetvalue(r, 0, 0), "%d") != NULL;
    PQclear(r);
    if (!named)
        fail_msg("the pg fixture's log lines do not name their database (log_line_prefix "
                 "without %%d): restart it with tools/pg-local");
    const char *name = strrchr(db_url, '/');
    assert_non_null(name);
    char needle[256];
    snprintf(needle, sizeof needle, "] %s ERROR:", name + 1);
    char path[4200];
    server_log_path(path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read the pg fixture's log %s", path);
    long n = 0;
    char line[8192];
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}
