/* `sitr-admin stats [--from YYYY-MM] [--to YYYY-MM] [--format table|csv|json]`:
 * the figures of a transparency report, per UTC month.
 *
 * The database computes them (sitr_stats in migrations/0007_stats.sql: one
 * jsonb document); this file checks the bounds and lays the document out.
 * What it can print is only what that function returns: counts, platform
 * and source names and durations, never a case reference, a hash or an
 * upload id.  Victims' cases and the partner lists imported by a source
 * (`sitr-admin import`) are counted apart.
 * The default range is the last twelve months, the current one included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "admin.h"

/* sitr_stats refuses more than this many months. */
#define MAX_MONTHS 600

/* The takedown outcomes, in the order every format lists them. */
static const char *const OUTCOMES[] = {"requested", "pending",   "removed",
                                       "rejected",  "not_found", "cancelled"};
#define NOUTCOMES (sizeof OUTCOMES / sizeof OUTCOMES[0])

/* "YYYY-MM" (year 1970-9999) as a month number since year 0; -1 if not. */
static long parse_month(const char *s)
{
    if (strlen(s) != 7 || s[4] != '-')
        return -1;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return -1;
    long y = strtol(s, NULL, 10), m = strtol(s + 5, NULL, 10);
    if (y < 1970 || m < 1 || m > 12)
        return -1;
    return y * 12 + (m - 1);
}

static long current_month(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return (long)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* The first day of month number m, "YYYY-MM-01". */
static void month_date(long m, char out[48])
{
    snprintf(out, 48, "%04ld-%02ld-01", m / 12, m % 12 + 1);
}

static long long num(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* A duration for people: 45s, 12m05s, 2h00m, 3d04h; "-" when none. */
static void human_seconds(const json_t *v, char out[32])
{
    if (!json_is_integer(v)) {
        snprintf(out, 32, "-");
        return;
    }
    long long s = json_integer_value(v);
    if (s < 60)
        snprintf(out, 32, "%llds", s);
    else if (s < 3600)
        snprintf(out, 32, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, 32, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, 32, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static void print_table(const json_t *doc)
{
    printf("sitr statistics, %s to %s (UTC months)\n",
           json_string_value(json_object_get(doc, "from")),
           json_string_value(json_object_get(doc, "to")));
    size_t i;
    json_t *mo;
    json_array_foreach(json_object_get(doc, "months"), i, mo)
    {
        const json_t *cases = json_object_get(mo, "cases"), *held = json_object_get(mo, "held");
        printf("\n%s\n", json_string_value(json_object_get(mo, "month")));
        printf("  victims' cases opened %lld, withdrawn %lld; held at the end of the month: "
               "%lld images, %lld videos\n",
               num(cases, "opened"), num(cases, "withdrawn"), num(held, "images"),
               num(held, "videos"));
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(mo, "sources"), k, p)
        {
            printf("  imported by %s: %lld lists, %lld withdrawn; held at the end of the month: "
                   "%lld images, %lld videos\n",
                   json_string_value(json_object_get(p, "source")), num(p, "imports"),
                   num(p, "withdrawn"), num(p, "images"), num(p, "videos"));
        }
        const json_t *plats = json_object_get(mo, "platforms");
        if (json_array_size(plats) == 0) {
            printf("  no checks, blocks or takedowns\n");
            continue;
        }
        printf("  %-24s %10s %10s %10s %8s %8s %8s %9s %9s %8s %8s %8s\n", "PLATFORM", "CHECKS",
               "BLOCKS", "TAKEDOWNS", "PENDING", "REMOVED", "REJECTED", "NOT_FOUND", "CANCELLED",
               "ANSWERED", "MEDIAN", "P90");
        json_array_foreach(plats, k, p)
        {
            const json_t *t = json_object_get(p, "takedowns");
            const json_t *a = json_object_get(p, "answer_seconds");
            char med[32], p90[32];
            human_seconds(json_object_get(a, "median"), med);
            human_seconds(json_object_get(a, "p90"), p90);
            printf("  %-24s %10lld %10lld %10lld %8lld %8lld %8lld %9lld %9lld %8lld %8s %8s\n",
                   json_string_value(json_object_get(p, "platform")), num(p, "checks"),
                   num(p, "blocks"), num(t, "requested"), num(t, "pending"), num(t, "removed"),
                   num(t, "rejected"), num(t, "not_found"), num(t, "cancelled"), num(a, "answered"),
                   med, p90);
        }
    }
}

static void print_csv(const json_t *doc)
{
    printf("month,platform,source,figure,value\n");
    size_t i;
    json_t *mo;
    json_array_foreach(json_object_get(doc, "months"), i, mo)
    {
        const char *m = json_string_value(json_object_get(mo, "month"));
        const json_t *cases = json_object_get(mo, "cases"), *held = json_object_get(mo, "held");
        printf("%s,,,cases_opened,%lld\n", m, num(cases, "opened"));
        printf("%s,,,cases_withdrawn,%lld\n", m, num(cases, "withdrawn"));
        printf("%s,,,images_held,%lld\n", m, num(held, "images"));
        printf("%s,,,videos_held,%lld\n", m, num(held, "videos"));
        /* Platform and source names are letters, digits, '.', '_' and '-'
         * (the schema's CHECKs): nothing to quote. */
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(mo, "sources"), k, p)
        {
            const char *name = json_string_value(json_object_get(p, "source"));
            printf("%s,,%s,imports,%lld\n", m, name, num(p, "imports"));
            printf("%s,,%s,imports_withdrawn,%lld\n", m, name, num(p, "withdrawn"));
            printf("%s,,%s,images_held,%lld\n", m, name, num(p, "images"));
            printf("%s,,%s,videos_held,%lld\n", m, name, num(p, "videos"));
        }
        json_array_foreach(json_object_get(mo, "platforms"), k, p)
        {
            const char *name = json_string_value(json_object_get(p, "platform"));
            const json_t *t = json_object_get(p, "takedowns");
            const json_t *a = json_object_get(p, "answer_seconds");
            printf("%s,%s,,checks,%lld\n", m, name, num(p, "checks"));
            printf("%s,%s,,blocks,%lld\n", m, name, num(p, "blocks"));
            for (size_t o = 0; o < NOUTCOMES; o++)
                printf("%s,%s,,takedowns_%s,%lld\n", m, name, OUTCOMES[o], num(t, OUTCOMES[o]));
            printf("%s,%s,,takedowns_answered,%lld\n", m, name, num(a, "answered"));
            /* No answer: an empty value, not a zero. */
            const char *q[] = {"median", "p90"};
            for (int j = 0; j < 2; j++) {
                const json_t *v = json_object_get(a, q[j]);
                if (json_is_integer(v))
                    printf("%s,%s,,answer_%s_seconds,%lld\n", m, name, q[j],
                           (long long)json_integer_value(v));
                else
                    printf("%s,%s,,answer_%s_seconds,\n", m, name, q[j]);
            }
        }
    }
}

/* The document again, its keys in a fixed, readable order. */
static json_t *ordered(const json_t *doc)
{
    json_t *months = json_array();
    size_t i;
    json_t *mo;
    json_array_foreach(json_object_get(doc, "months"), i, mo)
    {
        json_t *plats = json_array();
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(mo, "platforms"), k, p)
        {
            const json_t *t = json_object_get(p, "takedowns");
            const json_t *a = json_object_get(p, "answer_seconds");
            json_t *td = json_object();
            for (size_t o = 0; o < NOUTCOMES; o++)
                json_object_set_new(td, OUTCOMES[o], json_integer(num(t, OUTCOMES[o])));
            json_array_append_new(
                plats,
                json_pack("{s:O,s:I,s:I,s:o,s:{s:I,s:O,s:O}}", "platform",
                          json_object_get(p, "platform"), "checks", (json_int_t)num(p, "checks"),
                          "blocks", (json_int_t)num(p, "blocks"), "takedowns", td, "answer_seconds",
                          "answered", (json_int_t)num(a, "answered"), "median",
                          json_object_get(a, "median"), "p90", json_object_get(a, "p90")));
        }
        json_t *srcs = json_array();
        json_array_foreach(json_object_get(mo, "sources"), k, p)
        {
            json_array_append_new(srcs, json_pack("{s:O,s:I,s:I,s:{s:I,s:I}}", "source",
                                                  json_object_get(p, "source"), "imports",
                                                  (json_int_t)num(p, "imports"), "withdrawn",
                                                  (json_int_t)num(p, "withdrawn"), "held", "images",
                                                  (json_int_t)num(p, "images"), "videos",
                                                  (json_int_t)num(p, "videos")));
        }
        const json_t *cases = json_object_get(mo, "cases"), *held = json_object_get(mo, "held");
        json_array_append_new(months, json_pack("{s:O,s:{s:I,s:I},s:{s:I,s:I},s:o,s:o}", "month",
                                                json_object_get(mo, "month"), "cases", "opened",
                                                (json_int_t)num(cases, "opened"), "withdrawn",
                                                (json_int_t)num(cases, "withdrawn"), "held",
                                                "images", (json_int_t)num(held, "images"), "videos",
                                                (json_int_t)num(held, "videos"), "sources", srcs,
                                                "platforms", plats));
    }
    return json_pack("{s:O,s:O,s:o}", "from", json_object_get(doc, "from"), "to",
                     json_object_get(doc, "to"), "months", months);
}

int admin_stats(const admin_opts_t *o)
{
    const char *format = o->format ? o->format : "table";
    if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "sitr-admin: --format is table, csv or json\n");
        return ADMIN_USAGE;
    }
    long now = current_month();
    long to = o->to ? parse_month(o->to) : now;
    long from = o->from ? parse_month(o->from) : to - 11;
    if ((o->from && from < 0) || (o->to && to < 0)) {
        fprintf(stderr, "sitr-admin: --from and --to are months: YYYY-MM (UTC)\n");
        return ADMIN_USAGE;
    }
    if (from > to) {
        fprintf(stderr, "sitr-admin: --from is after --to\n");
        return ADMIN_USAGE;
    }
    if (to > now) {
        fprintf(stderr, "sitr-admin: --to is after the current month\n");
        return ADMIN_USAGE;
    }
    if (to - from >= MAX_MONTHS) {
        fprintf(stderr, "sitr-admin: at most %d months at once\n", MAX_MONTHS);
        return ADMIN_USAGE;
    }
    char d_from[48], d_to[48];
    month_date(from, d_from);
    month_date(to, d_to);
    PGconn *c = admin_connect(o);
    if (!c)
        return ADMIN_FAIL;
    const char *v[] = {d_from, d_to};
    PGresult *r = admin_exec(c, "SELECT sitr_stats($1::date, $2::date)", 2, v);
    if (!r) {
        PQfinish(c);
        return ADMIN_FAIL;
    }
    json_error_t jerr;
    json_t *doc = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, &jerr) : NULL;
    PQclear(r);
    PQfinish(c);
    if (!doc) {
        fprintf(stderr, "sitr-admin: the database's statistics could not be read\n");
        return ADMIN_FAIL;
    }
    int rc = ADMIN_OK;
    if (strcmp(format, "table") == 0) {
        print_table(doc);
    } else if (strcmp(format, "csv") == 0) {
        print_csv(doc);
    } else {
        json_t *out = ordered(doc);
        if (!out || json_dumpf(out, stdout, JSON_INDENT(2)) < 0) {
            fprintf(stderr, "sitr-admin: out of memory\n");
            rc = ADMIN_FAIL;
        } else {
            printf("\n");
        }
        json_decref(out);
    }
    json_decref(doc);
    if (fflush(stdout) != 0) {
        perror("sitr-admin: stdout");
        rc = ADMIN_FAIL;
    }
    return rc;
}
