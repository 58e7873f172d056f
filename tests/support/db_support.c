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
