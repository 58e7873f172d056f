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
