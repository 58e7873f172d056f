/* sitr-admin internals: one file per command group.  Synchronous libpq
 * (this is a command-line tool, not the event loop). */
#ifndef SITR_ADMIN_H
#define SITR_ADMIN_H

#include <libpq-fe.h>

typedef struct admin_opts {
    const char *database_url;
    const char *dir;     /* migrations */
    const char *webhook; /* platform add */
    const char *digest_key_file;
    const char *key_file;    /* key: the report signing key (--key-file, SITR_REPORT_KEY_FILE) */
    const char *from, *to;   /* stats: first and last month, YYYY-MM */
    const char *format;      /* stats, alerts: table, csv or json; import: auto, csv,
                              * jsonl, hma, te */
    const char *source;      /* import: --source NAME */
    const char *pdq_quality; /* import: --pdq-quality N (hma, te) */
    const char *hash;        /* source withdraw: --hash HEX */
    int skip_invalid;        /* import: --skip-invalid */
    int all;                 /* alerts: cleared ones too (--all) */
} admin_opts_t;

/* Exit statuses. */
enum { ADMIN_OK = 0, ADMIN_FAIL = 1, ADMIN_USAGE = 2, ADMIN_PENDING = 3 };

/* Connects (messages on stderr); NULL on failure. */
PGconn *admin_connect(const admin_opts_t *o);
/* Runs a parameterised statement; prints the server's message and returns
 * NULL on failure. */
PGresult *admin_exec(PGconn *c, const char *sql, int n, const char *const *values);
/* Statement that returns no rows; 0 or -1. */
int admin_cmd(PGconn *c, const char *sql, int n, const char *const *values);

/* 1 when s is a valid platform or source name (1-64 characters: letters,
 * digits, and . _ - after the first), as the schema's CHECKs say. */
int admin_valid_name(const char *s);

int admin_migrate(const admin_opts_t *o);
int admin_status(const admin_opts_t *o);
int admin_platform(const admin_opts_t *o, int argc, char **argv);
int admin_key(const admin_opts_t *o, int argc, char **argv);
int admin_stats(const admin_opts_t *o);
int admin_import(const admin_opts_t *o, const char *path);
int admin_source(const admin_opts_t *o, int argc, char **argv);
int admin_alerts(const admin_opts_t *o, int argc, char **argv);

#endif
