/* sitr-admin internals: one file per command group.  Synchronous libpq
 * (this is a command-line tool, not the event loop). */
#ifndef SITR_ADMIN_H
#define SITR_ADMIN_H

#include <stddef.h>

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
    const char *wait;        /* import: --wait SECONDS for the replicas */
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

/* import_publish.c: the phases of an import around its staging. */
/* Takes the source's import lock (session level), waiting for another
 * import of the source if need be (said once on stderr).  0 or -1. */
int admin_import_lock(PGconn *c, const char *source);
/* Discards the source's abandoned staged imports (said on stderr when
 * there were some).  0 or -1.  Needs the import lock. */
int admin_import_discard(PGconn *c, const char *source);

typedef struct admin_publish {
    int waited;    /* --wait was not 0 */
    int live;      /* live replicas at the end of the wait */
    int prepared;  /* of which had prepared the import */
    int timed_out; /* the wait ran out (the others are named on stderr) */
    double wait_s; /* time spent waiting */
} admin_publish_t;

/* on: from now on SIGINT and SIGTERM are noted, not fatal (set before the
 * staging's COMMIT: once it is sent, the import ends with a message that
 * says it is stored, unpublished); off: as before. */
void admin_import_signals(int on);
/* Waits up to wait_s seconds for the live replicas to prepare staged import
 * case_id (progress on stderr when progress), publishes it and releases
 * the import lock; ends admin_import_signals.  0, or -1 with the message
 * printed (interrupted or failed: the import stays staged; or it was
 * withdrawn meanwhile). */
int admin_import_publish(PGconn *c, const char *source, const char *case_id, int wait_s,
                         int progress, admin_publish_t *out);
/* "replicas prepared 1.2 s (2/2), published" and the like. */
void admin_publish_describe(const admin_publish_t *p, char *out, size_t cap);

#endif
