/* Option table and parser for sitrd.
 *
 * One table row per option drives --help, flag parsing, environment lookup
 * and range checks, so the three can never disagree.  Parsing runs once on
 * the main thread before the loop starts; the digest key file is read here
 * with ordinary blocking I/O for that reason.  The key is kept only in
 * cfg->digest_key and wiped by sitr_config_free; it is never printed. */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <sitr/datadir.h>
#include <sitr/err_service.h>
#include <sitr/hex.h>

/* K_DATADIR: a string whose default is sitr_data_dir(min), the installed
 * folder or, for a sitrd run from its build tree, the source tree's. */
typedef enum kind {
    K_STRING,
    K_UINT,
    K_BYTES,
    K_LEVEL,
    K_KEY,
    K_KEYFILE,
    K_BOOL,
    K_DATADIR
} kind_t;

typedef struct option {
    const char *flag; /* without the leading "--" */
    const char *env;
    const char *def; /* NULL: no default */
    const char *meta;
    const char *help;
    kind_t kind;
    size_t off;
    unsigned long long min, max;
} option_t;

#define OFF(field) offsetof(sitr_config_t, field)

static const option_t options[] = {
    {"listen", "SITR_LISTEN", "127.0.0.1:8080", "HOST:PORT",
     "address to listen on ([v6]:port for IPv6); keep loopback behind a TLS proxy", K_STRING,
     OFF(listen), 0, 0},
    {"database-url", "SITR_DATABASE_URL", NULL, "CONNINFO", "PostgreSQL conninfo or URL (required)",
     K_STRING, OFF(database_url), 0, 0},
    {"db-pool", "SITR_DB_POOL", "8", "N", "database connections", K_UINT, OFF(db_pool), 1, 256},
    {"db-queue", "SITR_DB_QUEUE", "1024", "N", "queries waiting for a connection (beyond: 503)",
     K_UINT, OFF(db_queue), 1, 1000000},
    {"db-timeout-ms", "SITR_DB_TIMEOUT_MS", "5000", "MS", "timeout per database query", K_UINT,
     OFF(db_timeout_ms), 1, 3600000},
    {"max-connections", "SITR_MAX_CONNECTIONS", "1024", "N",
     "open client connections; at the limit a new one replaces an idle one (or one whose request "
     "head, or body below --min-body-rate, has been arriving for over a second), else it gets "
     "503 and is closed",
     K_UINT, OFF(max_connections), 1, 1000000},
    {"max-connections-per-address", "SITR_MAX_CONNECTIONS_PER_ADDRESS", "512", "N",
     "open connections per client address, an IPv6 /64 counting as one (beyond: 429 and "
     "close); from --trusted-proxy, counted per forwarded address while a request is under "
     "way; 0 disables",
     K_UINT, OFF(max_connections_per_address), 0, 1000000},
    {"max-header-bytes", "SITR_MAX_HEADER_BYTES", "16384", "BYTES",
     "request line and headers (beyond: 431)", K_BYTES, OFF(max_header_bytes), 1024, 1024 * 1024},
    {"max-body-bytes", "SITR_MAX_BODY_BYTES", "4194304", "BYTES",
     "largest request body (beyond: 413); K/M suffixes allowed; the case endpoints take up "
     "to this (a 10-minute video hashed at 5 frames a second with its variants is about "
     "2.5 MB), every other route sets less",
     K_BYTES, OFF(max_body_bytes), 1024, 1024ull * 1024 * 1024},
    {"idle-timeout-ms", "SITR_IDLE_TIMEOUT_MS", "30000", "MS",
     "close idle keep-alive connections and clients too slow to send a request or read a "
     "response",
     K_UINT, OFF(idle_timeout_ms), 100, 86400000},
    {"head-timeout-ms", "SITR_HEAD_TIMEOUT_MS", "10000", "MS",
     "time a request line and its headers may take to arrive, from their first byte, however "
     "steadily they trickle in (beyond: 408 and close)",
     K_UINT, OFF(head_timeout_ms), 100, 3600000},
    {"min-body-rate", "SITR_MIN_BODY_RATE", "1024", "BYTES",
     "slowest average rate, in bytes a second, at which a request body may arrive once "
     "--body-grace-ms has passed (beyond: 408 and close); 0 disables",
     K_UINT, OFF(min_body_rate), 0, 1000000000},
    {"body-grace-ms", "SITR_BODY_GRACE_MS", "10000", "MS",
     "time a request body has, from the end of its headers, before --min-body-rate applies", K_UINT,
     OFF(body_grace_ms), 0, 3600000},
    {"shutdown-timeout-ms", "SITR_SHUTDOWN_TIMEOUT_MS", "10000", "MS",
     "on SIGTERM/SIGINT, how long requests in flight may take before connections are cut", K_UINT,
     OFF(shutdown_timeout_ms), 0, 3600000},
    {"max-images-per-request", "SITR_MAX_IMAGES_PER_REQUEST", "100", "N",
     "images in one request (beyond: 422)", K_UINT, OFF(max_images_per_request), 1, 100000},
    {"max-images-per-case", "SITR_MAX_IMAGES_PER_CASE", "1000", "N",
     "images in one case (beyond: 422)", K_UINT, OFF(max_images_per_case), 1, 1000000},
    {"max-video-frames", "SITR_MAX_VIDEO_FRAMES", "3600", "N",
     "frames in one video: a case video, a /v1/match video item or a video upload (beyond: "
     "422); case videos are hashed at 5 frames a second, so 3600 is 12 minutes",
     K_UINT, OFF(max_video_frames), 1, 1000000},
    {"max-videos-per-case", "SITR_MAX_VIDEOS_PER_CASE", "50", "N",
     "videos in one case (beyond: 422)", K_UINT, OFF(max_videos_per_case), 1, 100000},
    {"case-video-dihedral", "SITR_CASE_VIDEO_DIHEDRAL", "off", "on|off",
     "store all seven dihedral variants of each case video frame (on: rotated copies match too, "
     "at 4x the index entries); off stores only FLIPY, what a mirrored copy hits",
     K_BOOL, OFF(case_video_dihedral), 0, 1},
    {"max-match-frames", "SITR_MAX_MATCH_FRAMES", "6000", "N",
     "video frames in one /v1/match or /v1/uploads request, over all its videos (beyond: 422)",
     K_UINT, OFF(max_match_frames), 1, 1000000},
    {"case-rate", "SITR_CASE_RATE", "20", "N",
     "case creations per client address per hour (beyond: 429); 0 disables", K_UINT, OFF(case_rate),
     0, 1000000},
    {"platform-rate", "SITR_PLATFORM_RATE", "200", "N",
     "requests per second per platform API key, each item of a /v1/match or /v1/uploads "
     "batch counting as one and a video one more per 10 frames (beyond: 429); 0 disables",
     K_UINT, OFF(platform_rate), 0, 1000000},
    {"platform-burst", "SITR_PLATFORM_BURST", "400", "N",
     "requests a platform may send at once before --platform-rate applies", K_UINT,
     OFF(platform_burst), 1, 1000000},
    {"client-rate", "SITR_CLIENT_RATE", "1000", "N",
     "authenticated /v1 requests per second per client address, checked before the key or "
     "secret (beyond: 429); 0 disables; behind a proxy set --trusted-proxy",
     K_UINT, OFF(client_rate), 0, 1000000},
    {"client-burst", "SITR_CLIENT_BURST", "2000", "N",
     "requests a client address may send at once before --client-rate applies", K_UINT,
     OFF(client_burst), 1, 1000000},
    {"match-threshold", "SITR_MATCH_THRESHOLD", "31", "BITS",
     "largest PDQ Hamming distance that counts as a match (the index is exact up to 32)", K_UINT,
     OFF(match_threshold), 0, 32},
    {"match-batch", "SITR_MATCH_BATCH", "1000", "N",
     "items in one /v1/match or /v1/uploads request", K_UINT, OFF(match_batch), 1, 100000},
    {"block-queue", "SITR_BLOCK_QUEUE", "16384", "N",
     "distinct (case item, platform, day) block records held in memory until written (beyond: "
     "\"recorded\":false)",
     K_UINT, OFF(block_queue), 16, 4000000},
    {"stats-interval", "SITR_STATS_INTERVAL", "60", "S",
     "seconds between two reads of the sitr_stats_* gauges of /metrics from the database", K_UINT,
     OFF(stats_interval), 1, 86400},
    {"oracle-budget", "SITR_ORACLE_BUDGET", "16", "N",
     "distinct query hashes matching one case image or video that one platform gets answered; "
     "the next suspends that pair's perceptual matches for that platform and records an alert "
     "(sitr-admin alerts) until the operator clears it",
     K_UINT, OFF(oracle_budget), 1, 1000},
    {"trusted-proxy", "SITR_TRUSTED_PROXY", "", "IP",
     "reverse proxy address whose X-Forwarded-For gives the client address (empty: none)", K_STRING,
     OFF(trusted_proxy), 0, 0},
    {"web-dir", "SITR_WEB_DIR", NULL, "PATH",
     "folder of the victims' web page (read once at start-up)", K_DATADIR, OFF(web_dir),
     SITR_DATA_WEB, 0},
    {"migrations-dir", "SITR_MIGRATIONS_DIR", NULL, "PATH",
     "folder of the migrations the database schema is checked against (read once at start-up)",
     K_DATADIR, OFF(migrations_dir), SITR_DATA_MIGRATIONS, 0},
    {"hma-bank", "SITR_HMA_BANK", "SITR", "NAME",
     "bank name answered by the HMA-compatible /m routes (HMA's rule: capital letters, digits "
     "and _, not starting with a digit, at most 64)",
     K_STRING, OFF(hma_bank), 0, 0},
    {"webhooks", "SITR_WEBHOOKS", "on", "on|off",
     "send the platforms' takedown webhooks (from the replica holding the matcher role)", K_BOOL,
     OFF(webhooks), 0, 1},
    {"webhook-timeout-ms", "SITR_WEBHOOK_TIMEOUT_MS", "10000", "MS",
     "total time for one webhook POST (connecting: at most 5 s of it)", K_UINT,
     OFF(webhook_timeout_ms), 100, 600000},
    {"webhook-concurrency", "SITR_WEBHOOK_CONCURRENCY", "16", "N", "webhook POSTs in flight",
     K_UINT, OFF(webhook_concurrency), 1, 1024},
    {"webhook-retry-min-ms", "SITR_WEBHOOK_RETRY_MIN_MS", "10000", "MS",
     "delay before the first webhook retry; doubles after each failure", K_UINT,
     OFF(webhook_retry_min_ms), 10, 86400000},
    {"webhook-retry-max-ms", "SITR_WEBHOOK_RETRY_MAX_MS", "3600000", "MS",
     "longest delay between webhook retries", K_UINT, OFF(webhook_retry_max_ms), 10, 86400000},
    {"webhook-max-attempts", "SITR_WEBHOOK_MAX_ATTEMPTS", "20", "N",
     "attempts before a webhook delivery is abandoned (GET /v1/takedowns still lists it)", K_UINT,
     OFF(webhook_max_attempts), 1, 1000},
    {"webhook-poll-ms", "SITR_WEBHOOK_POLL_MS", "1000", "MS",
     "how often the webhook sender looks for due deliveries", K_UINT, OFF(webhook_poll_ms), 10,
     60000},
    {"digest-key", "SITR_DIGEST_KEY", NULL, "HEX",
     "64 hex characters keying the BLAKE2b digests of secrets and API keys (required, or "
     "the file below)",
     K_KEY, 0, 0, 0},
    {"digest-key-file", "SITR_DIGEST_KEY_FILE", NULL, "PATH",
     "file containing the 64 hex characters of the digest key", K_KEYFILE, 0, 0, 0},
    {"log-level", "SITR_LOG_LEVEL", "info", "LEVEL", "error, warn, info or debug", K_LEVEL,
     OFF(log_level), 0, 0},
    {"env", "SITR_ENV", "development", "development|production",
     "production: the operator below is required (also whenever --listen is not a loopback "
     "address)",
     K_STRING, OFF(env), 0, 0},
    {"operator-name", "SITR_OPERATOR_NAME", "", "TEXT",
     "who runs this service, printed on every evidence report (required in production)", K_STRING,
     OFF(operator_name), 0, 0},
    {"operator-contact", "SITR_OPERATOR_CONTACT", "", "TEXT",
     "how the police reach the operator: e-mail, telephone (required in production)", K_STRING,
     OFF(operator_contact), 0, 0},
    {"operator-address", "SITR_OPERATOR_ADDRESS", "", "TEXT",
     "the operator's postal address (required in production)", K_STRING, OFF(operator_address), 0,
     0},
    {"report-key-file", "SITR_REPORT_KEY_FILE", NULL, "PATH",
     "the operator's Ed25519 key that signs every evidence report (sitr-admin key generate; "
     "mode 0600; required in production)",
     K_STRING, OFF(report_key_file), 0, 0},
    {"help-list", "SITR_HELP", "", "TEXT",
     "where victims get help, printed on reports: entries separated by \" | \" (hotlines, "
     "NGOs)",
     K_STRING, OFF(help), 0, 0},
};

#define NOPTIONS (sizeof options / sizeof options[0])

static const char *option_default(const option_t *o)
{
    return o->kind == K_DATADIR ? sitr_data_dir((sitr_data_t)o->min) : o->def;
}

void sitr_config_usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s [options]\n"
            "sitrd serves the sitr API.  Each option can also be set with the environment\n"
            "variable shown; a flag wins over the environment.\n\n",
            argv0);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s=%s", o->flag, o->meta);
        const char *def = option_default(o);
        fprintf(out, "  %-34s %s\n  %-34s env %s, default %s\n", lhs, o->help, "", o->env,
                def ? (def[0] ? def : "(empty)") : "(none)");
    }
    fprintf(out, "  %-34s %s\n  %-34s %s\n", "--help", "show this text and exit", "--version",
            "print the version and exit");
}

int sitr_config_parse_listen(const char *s, struct sockaddr_storage *out)
{
    char host[128];
    const char *port;
    memset(out, 0, sizeof *out);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
            return SITR_EINVAL;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host || strchr(s, ':') != colon)
            return SITR_EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    char *endp;
    errno = 0;
    unsigned long p = strtoul(port, &endp, 10);
    if (!isdigit((unsigned char)port[0]) || *endp || errno || p > 65535)
        return SITR_EINVAL;
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        strcpy(host, "0.0.0.0");
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return SITR_EINVAL;
}

static int parse_number(const char *s, int allow_suffix, unsigned long long *out)
{
    if (!isdigit((unsigned char)s[0]))
        return SITR_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return SITR_EINVAL;
    if (allow_suffix && *end) {
        unsigned shift = 0;
        if ((end[0] == 'K' || end[0] == 'k'))
            shift = 10;
        else if ((end[0] == 'M' || end[0] == 'm'))
            shift = 20;
        else
            return SITR_EINVAL;
        end++;
        if (end[0] == 'i' && end[1] == 'B')
            end += 2;
        else if (end[0] == 'B')
            end++;
        if (v > (ULLONG_MAX >> shift))
            return SITR_EINVAL;
        v <<= shift;
    }
    if (*end)
        return SITR_EINVAL;
    *out = v;
    return 0;
}

/* HMA's bank names: [A-Z_][A-Z0-9_]*, here at most 64 characters. */
static int valid_bank_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64 || isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isupper((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

static int set_key_hex(sitr_config_t *cfg, const char *hex, size_t len, const char *origin,
                       sitr_err_t *err)
{
    while (len && isspace((unsigned char)hex[len - 1]))
        len--;
    while (len && isspace((unsigned char)hex[0])) {
        hex++;
        len--;
    }
    if (len != 2 * SITR_DIGEST_KEY_BYTES ||
        sitr_hex_decode(hex, len, cfg->digest_key, SITR_DIGEST_KEY_BYTES) < 0)
        return sitr_err_set(err, SITR_ECONFIG,
                            "%s: the digest key must be exactly %d hex characters", origin,
                            2 * SITR_DIGEST_KEY_BYTES);
    if (sodium_is_zero(cfg->digest_key, SITR_DIGEST_KEY_BYTES))
        return sitr_err_set(err, SITR_ECONFIG, "%s: the digest key must not be all zeros", origin);
    cfg->have_digest_key = 1;
    return 0;
}

static int read_key_file(sitr_config_t *cfg, const char *path, const char *origin, sitr_err_t *err)
{
    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sitr_err_set(err, SITR_ECONFIG, "%s: cannot open %s: %s", origin, path,
                            strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf);
    int saved = errno;
    close(fd);
    if (n < 0)
        return sitr_err_set(err, SITR_ECONFIG, "%s: cannot read %s: %s", origin, path,
                            strerror(saved));
    int rc = set_key_hex(cfg, buf, (size_t)n, origin, err);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

static int apply(sitr_config_t *cfg, const option_t *o, const char *value, const char *origin,
                 sitr_err_t *err)
{
    char *base = (char *)cfg;
    unsigned long long v;
    switch (o->kind) {
    case K_STRING:
    case K_DATADIR: {
        char **slot = (char **)(base + o->off);
        char *copy = strdup(value);
        if (!copy)
            return sitr_err_set(err, SITR_ENOMEM, "out of memory");
        free(*slot);
        *slot = copy;
        return 0;
    }
    case K_UINT:
    case K_BYTES:
        if (parse_number(value, o->kind == K_BYTES, &v) < 0)
            return sitr_err_set(err, SITR_ECONFIG, "%s: \"%s\" is not a %s", origin, value,
                                o->kind == K_BYTES ? "byte count" : "whole number");
        if (v < o->min || v > o->max)
            return sitr_err_set(err, SITR_ECONFIG, "%s: %llu is outside %llu..%llu", origin, v,
                                o->min, o->max);
        if (o->kind == K_UINT)
            *(unsigned *)(base + o->off) = (unsigned)v;
        else
            *(size_t *)(base + o->off) = (size_t)v;
        return 0;
    case K_LEVEL:
        if (sitr_log_parse_level(value, (sitr_log_level_t *)(base + o->off)) < 0)
            return sitr_err_set(err, SITR_ECONFIG,
                                "%s: \"%s\" is not one of error, warn, info, debug", origin, value);
        return 0;
    case K_BOOL:
        if (strcmp(value, "on") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
            strcmp(value, "yes") == 0)
            *(unsigned *)(base + o->off) = 1;
        else if (strcmp(value, "off") == 0 || strcmp(value, "false") == 0 ||
                 strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
            *(unsigned *)(base + o->off) = 0;
        else
            return sitr_err_set(err, SITR_ECONFIG, "%s: \"%s\" is not on or off", origin, value);
        return 0;
    case K_KEY:
        return set_key_hex(cfg, value, strlen(value), origin, err);
    case K_KEYFILE:
        return read_key_file(cfg, value, origin, err);
    }
    return SITR_EINTERNAL;
}

static const option_t *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].flag) == len && memcmp(options[i].flag, name, len) == 0)
            return &options[i];
    return NULL;
}

static const char *getenv_default(const char *name)
{
    return getenv(name);
}

static int check_operator(sitr_config_t *cfg, sitr_err_t *err);

int sitr_config_load(sitr_config_t *cfg, int argc, char *const argv[], sitr_config_getenv_fn env,
                     sitr_config_action_t *action, sitr_err_t *err)
{
    memset(cfg, 0, sizeof *cfg);
    *action = SITR_CONFIG_RUN;
    if (!env)
        env = getenv_default;
    int rc;
    /* Flags are collected first so that a flag can override its variable
     * and --help works even when the environment holds a bad value. */
    const char *given[NOPTIONS] = {0};
    const char *keyfrom[2] = {NULL, NULL}; /* key, key file: where each was given */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = SITR_CONFIG_HELP;
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            *action = SITR_CONFIG_VERSION;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            return sitr_err_set(err, SITR_ECONFIG, "unexpected argument \"%s\" (see --help)", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const option_t *o = find_flag(name, nlen);
        if (!o)
            return sitr_err_set(err, SITR_ECONFIG, "unknown option --%.*s (see --help)", (int)nlen,
                                name);
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return sitr_err_set(err, SITR_ECONFIG, "--%s needs a value", o->flag);
            val = argv[++i];
        }
        given[o - options] = val;
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        const option_t *o = &options[i];
        char origin[64];
        const char *val = given[i];
        if (val) {
            snprintf(origin, sizeof origin, "--%s", o->flag);
        } else if ((val = env(o->env)) != NULL) {
            snprintf(origin, sizeof origin, "%s", o->env);
        } else if ((val = option_default(o)) != NULL) {
            snprintf(origin, sizeof origin, "default of --%s", o->flag);
        } else {
            continue;
        }
        if (o->kind == K_KEY || o->kind == K_KEYFILE) {
            keyfrom[o->kind == K_KEYFILE] = given[i] ? o->flag : o->env;
            if (keyfrom[0] && keyfrom[1])
                return sitr_err_set(err, SITR_ECONFIG,
                                    "give the digest key once: both %s and %s are set", keyfrom[0],
                                    keyfrom[1]);
        }
        if ((rc = apply(cfg, o, val, origin, err)) < 0)
            return rc;
    }
    if (sitr_config_parse_listen(cfg->listen, &cfg->listen_addr) < 0)
        return sitr_err_set(err, SITR_ECONFIG,
                            "listen address \"%s\" is not HOST:PORT with a numeric IP address",
                            cfg->listen);
    if (cfg->trusted_proxy[0]) {
        struct sockaddr_storage tmp;
        char probe[160];
        snprintf(probe, sizeof probe, strchr(cfg->trusted_proxy, ':') ? "[%s]:1" : "%s:1",
                 cfg->trusted_proxy);
        if (sitr_config_parse_listen(probe, &tmp) < 0)
            return sitr_err_set(err, SITR_ECONFIG, "trusted proxy \"%s\" is not an IP address",
                                cfg->trusted_proxy);
    }
    if (!valid_bank_name(cfg->hma_bank))
        return sitr_err_set(err, SITR_ECONFIG,
                            "HMA bank name \"%.64s\": use capital letters, digits and _, not "
                            "starting with a digit, at most 64 characters",
                            cfg->hma_bank);
    if (cfg->webhook_retry_min_ms > cfg->webhook_retry_max_ms)
        return sitr_err_set(err, SITR_ECONFIG,
                            "webhook retry delays: --webhook-retry-min-ms (%u) is above "
                            "--webhook-retry-max-ms (%u)",
                            cfg->webhook_retry_min_ms, cfg->webhook_retry_max_ms);
    if (!cfg->database_url || !cfg->database_url[0])
        return sitr_err_set(err, SITR_ECONFIG,
                            "the database is required: set SITR_DATABASE_URL (libpq conninfo or "
                            "postgresql:// URL)");
    if (!cfg->have_digest_key)
        return sitr_err_set(err, SITR_ECONFIG,
                            "the digest key is required: set SITR_DIGEST_KEY (64 hex characters) "
                            "or SITR_DIGEST_KEY_FILE");
    return check_operator(cfg, err);
}

/* An operator text printed on reports: at most SITR_OPERATOR_TEXT_MAX
 * bytes of UTF-8 with no control character. */
static int check_text(const char *value, const char *what, sitr_err_t *err)
{
    size_t n = strlen(value);
    if (n > SITR_OPERATOR_TEXT_MAX)
        return sitr_err_set(err, SITR_ECONFIG, "%s: longer than %d bytes", what,
                            SITR_OPERATOR_TEXT_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return sitr_err_set(err, SITR_ECONFIG, "%s: holds a control character", what);
    return 0;
}

/* Production: SITR_ENV=production, or listening on an address that is not
 * loopback (127.0.0.0/8, ::1). */
static int production_mode(const sitr_config_t *cfg)
{
    if (strcmp(cfg->env, "production") == 0)
        return 1;
    const struct sockaddr_storage *a = &cfg->listen_addr;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)a;
        return (ntohl(in->sin_addr.s_addr) >> 24) != 127;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
        return !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 1;
}

static int check_operator(sitr_config_t *cfg, sitr_err_t *err)
{
    if (strcmp(cfg->env, "production") != 0 && strcmp(cfg->env, "development") != 0)
        return sitr_err_set(err, SITR_ECONFIG, "SITR_ENV: \"%s\" is not development or production",
                            cfg->env);
    const struct {
        const char *value, *what;
    } texts[] = {{cfg->operator_name, "SITR_OPERATOR_NAME"},
                 {cfg->operator_contact, "SITR_OPERATOR_CONTACT"},
                 {cfg->operator_address, "SITR_OPERATOR_ADDRESS"},
                 {cfg->help, "SITR_HELP"}};
    int rc;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if ((rc = check_text(texts[i].value, texts[i].what, err)) < 0)
            return rc;
    cfg->production = production_mode(cfg);
    if (cfg->report_key_file && cfg->report_key_file[0]) {
        if ((rc = sitr_sign_key_load(cfg->report_key_file, &cfg->report_key, err)) < 0)
            return rc;
        cfg->have_report_key = 1;
    }
    if (!cfg->production)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (!texts[i].value[0])
            return sitr_err_set(err, SITR_ECONFIG,
                                "production mode (SITR_ENV=production or a listen address that "
                                "is not loopback): set %s; the evidence reports name the "
                                "operator, its contact and its address",
                                texts[i].what);
    if (!cfg->have_report_key)
        return sitr_err_set(err, SITR_ECONFIG,
                            "production mode: set SITR_REPORT_KEY_FILE (make the key with "
                            "sitr-admin key generate); every evidence report is signed with it");
    return 0;
}

void sitr_config_free(sitr_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->listen);
    free(cfg->database_url);
    free(cfg->trusted_proxy);
    free(cfg->web_dir);
    free(cfg->hma_bank);
    free(cfg->migrations_dir);
    free(cfg->env);
    free(cfg->operator_name);
    free(cfg->operator_contact);
    free(cfg->operator_address);
    free(cfg->help);
    free(cfg->report_key_file);
    cfg->report_key_file = NULL;
    sitr_sign_key_wipe(&cfg->report_key);
    cfg->have_report_key = 0;
    cfg->listen = cfg->database_url = cfg->trusted_proxy = cfg->web_dir = cfg->hma_bank =
        cfg->migrations_dir = NULL;
    cfg->env = cfg->operator_name = cfg->operator_contact = cfg->operator_address = cfg->help =
        NULL;
    sodium_memzero(cfg->digest_key, sizeof cfg->digest_key);
    cfg->have_digest_key = 0;
}
