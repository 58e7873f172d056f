/* sitrd configuration: command-line flags, then environment, then defaults.
 *
 * Every option has a flag (--listen) and an environment variable
 * (SITR_LISTEN); a flag wins over the environment.  Values are checked once
 * at start-up and a bad value is a clear error naming the option.  The
 * struct is filled before the loop starts and read-only afterwards; the
 * server borrows it. */
#ifndef SITR_CONFIG_H
#define SITR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <sitr/err.h>
#include <sitr/report_sign.h>
#include <sitr/err_service.h>

#include "core/log.h"

#define SITR_DIGEST_KEY_BYTES 32

typedef struct sitr_config {
    char *listen; /* "host:port", "[v6]:port" */
    struct sockaddr_storage listen_addr;
    char *database_url; /* libpq conninfo or URL (required) */
    unsigned db_pool, db_queue, db_timeout_ms;
    unsigned max_connections;
    unsigned max_connections_per_address; /* 0 = no cap; IPv6 per /64 */
    size_t max_header_bytes, max_body_bytes;
    unsigned idle_timeout_ms, shutdown_timeout_ms;
    unsigned head_timeout_ms; /* request line and headers, from their first byte */
    unsigned min_body_rate;   /* bytes per second a body must average; 0 = no floor */
    unsigned body_grace_ms;   /* before the floor applies */
    unsigned max_images_per_request, max_images_per_case;
    unsigned max_video_frames;    /* frames in one video (case, match item, upload) */
    unsigned max_videos_per_case; /* videos in one case */
    unsigned max_match_frames;    /* video frames in one /v1/match or /v1/uploads request */
    unsigned case_video_dihedral; /* 1: case video frames keep all 7 dihedral variants
                                   * (match/vpack.h SITR_VPACK_VARIANTS_ALL), 0: FLIPY only */
    unsigned case_rate;           /* case creations per client address per hour; 0 = no limit */
    unsigned client_rate, client_burst;     /* authenticated /v1 requests per client address
                                             * per second; 0 = no limit */
    unsigned platform_rate, platform_burst; /* platform API requests per platform per second
                                             * (a /v1/match item counts as one); 0 = no limit */
    unsigned match_threshold, match_batch;
    /* Seconds between two reads of the sitr_stats_* gauges (jobs/stats.h). */
    unsigned stats_interval;
    /* Distinct matching query hashes answered per (platform, case item)
     * before its perceptual matches are withheld (api/oracle.h). */
    unsigned oracle_budget;
    unsigned block_queue; /* distinct (case item, platform, day) block records held in memory
                           * on their way to the database (api/blocks.h) */
    unsigned webhooks;    /* 1: send takedown webhooks (on the matcher's replica) */
    unsigned webhook_timeout_ms, webhook_concurrency, webhook_retry_min_ms, webhook_retry_max_ms,
        webhook_max_attempts, webhook_poll_ms;
    char *trusted_proxy;  /* peer IP whose X-Forwarded-For is believed; "" = none */
    char *web_dir;        /* the victims' web page files, read once at start-up */
    char *migrations_dir; /* the migration files, read once at start-up */
    char *hma_bank;       /* the one bank name of the HMA-compatible /m routes */
    char *env;            /* "development" or "production" */
    /* Who runs the service, printed on every evidence report; "" when not
     * set (allowed only outside production).  help: where victims get help,
     * entries separated by " | ". */
    char *operator_name, *operator_contact, *operator_address, *help;
    int production;             /* SITR_ENV=production or a listen address not loopback */
    char *report_key_file;      /* SITR_REPORT_KEY_FILE, or NULL */
    sitr_sign_key_t report_key; /* read at start-up when report_key_file is set */
    int have_report_key;
    sitr_log_level_t log_level;
    uint8_t digest_key[SITR_DIGEST_KEY_BYTES];
    int have_digest_key;
} sitr_config_t;

/* Longest operator text (name, contact, address, help list). */
#define SITR_OPERATOR_TEXT_MAX 1024

typedef enum sitr_config_action {
    SITR_CONFIG_RUN = 0,
    SITR_CONFIG_HELP,
    SITR_CONFIG_VERSION
} sitr_config_action_t;

/* Looks up an environment variable; getenv in production, a table in tests. */
typedef const char *(*sitr_config_getenv_fn)(const char *name);

/* Fills cfg from defaults, env and argv.  With action RUN, the digest key is
 * required.  On failure returns SITR_ECONFIG with err->msg naming the option.
 * Reads SITR_DIGEST_KEY_FILE synchronously: call before the loop runs.
 * Release with sitr_config_free, also after a failure. */
SITR_MUST_CHECK int sitr_config_load(sitr_config_t *cfg, int argc, char *const argv[],
                                     sitr_config_getenv_fn env, sitr_config_action_t *action,
                                     sitr_err_t *err);
/* Wipes the key and frees the strings. */
void sitr_config_free(sitr_config_t *cfg);
/* Prints every option with its environment variable and default. */
void sitr_config_usage(FILE *out, const char *argv0);
/* Parses "host:port" / "[v6]:port" into a socket address. */
SITR_MUST_CHECK int sitr_config_parse_listen(const char *s, struct sockaddr_storage *out);

#endif
