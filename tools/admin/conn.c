/* sitr-admin's database access: one synchronous libpq connection per run,
 * every statement parameterised, server messages shown to the operator. */
#include <stdio.h>
#include <string.h>

#include "admin.h"

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

PGconn *admin_connect(const admin_opts_t *o)
{
    if (!o->database_url || !*o->database_url) {
        fprintf(stderr, "sitr-admin: no database: set SITR_DATABASE_URL or use --database-url\n");
        return NULL;
    }
    const char *kw[] = {"dbname", "fallback_application_name", NULL};
    const char *val[] = {o->database_url, "sitr-admin", NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "sitr-admin: cannot connect to the database: %s",
                c ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

PGresult *admin_exec(PGconn *c, const char *sql, int n, const char *const *values)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        fprintf(stderr, "sitr-admin: database error: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

int admin_cmd(PGconn *c, const char *sql, int n, const char *const *values)
{
    PGresult *r = admin_exec(c, sql, n, values);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int admin_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok)
            return 0;
    }
    return 1;
}
