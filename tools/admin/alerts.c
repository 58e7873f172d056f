/* sitr-admin alerts: the match oracle's alerts (docs/SECURITY.md "The
 * match oracle", migrations/0010_oracle.sql).
 *
 *   alerts [--all] [--format table|csv|json]
 *       the open alerts (with --all, cleared ones too), newest first: id,
 *       platform, the kind of case item probed ("image", "video", or
 *       "erased" once it is gone), the distinct query hashes counted when
 *       it opened, when it opened and when it was cleared.  No hash, case
 *       or row id of a victim.
 *   alerts clear ID
 *       the pair is answered again, with a fresh budget (its digests are
 *       deleted); every sitrd learns it within about a second.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

enum { COLS = 6 };
static const char *const NAMES[COLS] = {"id",      "platform",   "item",
                                        "queries", "created_at", "cleared_at"};

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

static int print_json(PGresult *r)
{
    json_t *list = json_array();
    for (int i = 0; list && i < PQntuples(r); i++) {
        json_t *a = json_object();
        int bad = !a;
        for (int c = 0; a && c < COLS; c++) {
            const char *v = PQgetvalue(r, i, c);
            json_t *x;
            if (c == 0 || c == 3)
                x = json_integer(strtoll(v, NULL, 10));
            else if (c == 5 && PQgetisnull(r, i, c))
                x = json_null();
            else
                x = json_string(v);
            bad |= json_object_set_new(a, NAMES[c], x) < 0;
        }
        if (bad || json_array_append_new(list, a) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *doc = list ? json_pack("{s:o}", "alerts", list) : NULL;
    int rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
    json_decref(doc);
    if (rc == 0)
        printf("\n");
    return rc;
}

static int alerts_list(const admin_opts_t *o, int all)
{
    const char *format = o->format ? o->format : "table";
    if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "sitr-admin: --format is table, csv or json\n");
        return ADMIN_USAGE;
    }
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    const char *v[] = {all ? "t" : "f"};
    PGresult *r = admin_exec(
        c,
        "SELECT a.id, p.name,"
        " CASE WHEN a.target_id IS NULL THEN 'erased' WHEN a.video THEN 'video' ELSE 'image' END,"
        " a.queries,"
        " to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " to_char(a.cleared_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM oracle_alerts a JOIN platforms p ON p.id = a.platform_id"
        " WHERE $1::boolean OR a.cleared_at IS NULL ORDER BY a.id DESC",
        1, v);
    if (!r) {
        PQfinish(c);
        return ADMIN_FAIL;
    }
    int rc = 0;
    if (strcmp(format, "json") == 0) {
        rc = print_json(r);
    } else if (strcmp(format, "csv") == 0) {
        for (int k = 0; k < COLS; k++)
            csv_field(NAMES[k], k == COLS - 1);
        for (int i = 0; i < PQntuples(r); i++)
            for (int k = 0; k < COLS; k++)
                csv_field(PQgetvalue(r, i, k), k == COLS - 1);
    } else {
        printf("%-8s %-24s %-7s %-8s %-20s %s\n", "ID", "PLATFORM", "ITEM", "QUERIES", "OPENED",
               "CLEARED");
        for (int i = 0; i < PQntuples(r); i++) {
            const char *cleared = PQgetisnull(r, i, 5) ? "-" : PQgetvalue(r, i, 5);
            printf("%-8s %-24s %-7s %-8s %-20s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), cleared);
        }
    }
    PQclear(r);
    PQfinish(c);
    if (rc < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "sitr-admin: cannot write the alerts\n");
        return ADMIN_FAIL;
    }
    return ADMIN_OK;
}

static int alerts_clear(const admin_opts_t *o, const char *id)
{
    if (!valid_id(id)) {
        fprintf(stderr, "sitr-admin: an alert id is a number (see sitr-admin alerts)\n");
        return ADMIN_USAGE;
    }
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    const char *v[] = {id};
    PGresult *r = admin_exec(c, "SELECT sitr_oracle_clear($1::bigint)", 1, v);
    int rc = ADMIN_FAIL;
    if (r && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        printf("alert %s cleared: the platform's matches of that case item are answered again\n",
               id);
        rc = ADMIN_OK;
    } else if (r) {
        fprintf(stderr, "sitr-admin: no open alert %s\n", id);
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int admin_alerts(const admin_opts_t *o, int argc, char **argv)
{
    if (argc == 0)
        return alerts_list(o, o->all);
    if (argc == 2 && strcmp(argv[0], "clear") == 0)
        return alerts_clear(o, argv[1]);
    fprintf(stderr, "sitr-admin: alerts [--all] | alerts clear ID (see --help)\n");
    return ADMIN_USAGE;
}
