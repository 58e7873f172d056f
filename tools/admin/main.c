/* sitr-admin: the operator's command line (migrations, platforms, keys,
 * statistics and partner hash lists).
 *
 * Options may appear anywhere on the command line; the first positional
 * words select the command.  The database comes from --database-url or
 * SITR_DATABASE_URL; the digest key (for API keys) from SITR_DIGEST_KEY,
 * SITR_DIGEST_KEY_FILE or --digest-key-file.  Secrets are printed only
 * where the operator must see them once (a new API key) and never logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/datadir.h>

#include "admin.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sitr-admin [options] <command> [arguments]\n"
            "\n"
            "commands:\n"
            "  migrate                      apply pending migrations, each in its own\n"
            "                               transaction; refuses when an applied file was\n"
            "                               edited or is missing\n"
            "  status                       list applied and pending migrations\n"
            "                               (exit 0: current, 3: pending, 1: inconsistent)\n"
            "  platform add NAME [--webhook URL]\n"
            "                               register a platform; prints its API key once\n"
            "                               (and the webhook signing secret, if any)\n"
            "  platform list                names, creation and revocation dates (no keys)\n"
            "  platform revoke NAME         the platform's key stops working at once\n"
            "  platform rotate-key NAME     issue a new API key (printed once); the old one\n"
            "                               stops working\n"
            "  key generate                 make the Ed25519 key that signs evidence reports\n"
            "                               (file mode 0600, never overwritten); prints the\n"
            "                               public key to publish\n"
            "  key show                     the public key and key id of the key file\n"
            "  key rotate                   retire the key (kept as FILE.retired-TIME) and\n"
            "                               make a new one; restart sitrd afterwards\n"
            "  alerts [--all] [--format table|csv|json]\n"
            "                               the match oracle's alerts: a platform that sent\n"
            "                               more distinct hashes matching one case image or\n"
            "                               video than SITR_ORACLE_BUDGET (probing); open\n"
            "                               ones, or all with --all\n"
            "  alerts clear ID              answer that platform's matches of that case item\n"
            "                               again, with a fresh budget\n"
            "  stats [--from YYYY-MM] [--to YYYY-MM] [--format table|csv|json]\n"
            "                               figures for transparency reports, per UTC month\n"
            "                               (default: the last 12): victims' cases opened\n"
            "                               and withdrawn, images and videos held; the same\n"
            "                               per source of imported lists; checks, blocks and\n"
            "                               takedowns per platform, time to answer\n"
            "  import --source NAME FILE    load a partner's hash list (csv, jsonl, hma, te;\n"
            "                               FILE - is stdin) as one case owned by the source;\n"
            "                               one transaction: a refused line refuses the file\n"
            "                               unless --skip-invalid; re-importing adds nothing.\n"
            "                               Two phases: stored (matched by no one), then\n"
            "                               published once every live replica prepared it\n"
            "                               (or --wait ran out); interrupted in between, it\n"
            "                               stays unmatched until the source's next import\n"
            "                               discards it or source withdraw erases it\n"
            "  source list                  sources: dates, imports, live images, staged\n"
            "                               (stored, not published) imports (no hash)\n"
            "  source withdraw NAME [--hash HEX]\n"
            "                               erase every hash of the source (or only the\n"
            "                               images with that PDQ, MD5 or SHA-256) as a\n"
            "                               victim's withdrawal does, from every replica;\n"
            "                               --hash is refused while an import of the\n"
            "                               source waits for its publication\n"
            "\n"
            "options:\n"
            "  --database-url URL   libpq URL or conninfo (default: $SITR_DATABASE_URL)\n"
            "  --dir DIR            migrations directory (default: $SITR_MIGRATIONS_DIR,\n"
            "                       then %s)\n"
            "  --digest-key-file F  file with the 64-hex-digit digest key (default:\n"
            "                       $SITR_DIGEST_KEY, then $SITR_DIGEST_KEY_FILE)\n"
            "  --webhook URL        with platform add: http(s) URL for takedown webhooks\n"
            "  --key-file PATH      with key: the report signing key file (default:\n"
            "                       $SITR_REPORT_KEY_FILE)\n"
            "  --from YYYY-MM       with stats: the first month (default: 11 before --to)\n"
            "  --to YYYY-MM         with stats: the last month (default: the current one)\n"
            "  --format F           with stats and alerts: table (default), csv or json; with\n"
            "                       import: auto (default), csv, jsonl, hma or te\n"
            "  --source NAME        with import: the list's owner (created on first use)\n"
            "  --skip-invalid       with import: import the valid lines of a file that has\n"
            "                       refused lines (each is still reported)\n"
            "  --pdq-quality N      with import: the PDQ quality (50-100) to assume for hma\n"
            "                       and te lists, which carry none (without it their PDQs\n"
            "                       are refused)\n"
            "  --wait SECONDS       with import: how long to wait for the live replicas to\n"
            "                       prepare the import before publishing it (default 120,\n"
            "                       0: publish at once; 0-3600)\n"
            "  --hash HEX           with source withdraw: erase only the images with this hash\n"
            "  --all                with alerts: cleared ones too\n"
            "  -h, --help           this help\n",
            sitr_data_dir(SITR_DATA_MIGRATIONS));
}

/* Accepts "--name value" and "--name=value". */
static int take_opt(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sitr-admin: %s needs a value\n", name);
        exit(ADMIN_USAGE);
    }
    *out = argv[++*i];
    return 1;
}

int main(int argc, char **argv)
{
    admin_opts_t o = {.database_url = getenv("SITR_DATABASE_URL"),
                      .dir = getenv("SITR_MIGRATIONS_DIR"),
                      .key_file = getenv("SITR_REPORT_KEY_FILE")};
    if (!o.dir || !*o.dir)
        o.dir = sitr_data_dir(SITR_DATA_MIGRATIONS);
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    if (!pos)
        return ADMIN_FAIL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(pos);
            return ADMIN_OK;
        }
        if (take_opt(argc, argv, &i, "--database-url", &o.database_url) ||
            take_opt(argc, argv, &i, "--dir", &o.dir) ||
            take_opt(argc, argv, &i, "--webhook", &o.webhook) ||
            take_opt(argc, argv, &i, "--digest-key-file", &o.digest_key_file) ||
            take_opt(argc, argv, &i, "--key-file", &o.key_file) ||
            take_opt(argc, argv, &i, "--from", &o.from) ||
            take_opt(argc, argv, &i, "--to", &o.to) ||
            take_opt(argc, argv, &i, "--format", &o.format) ||
            take_opt(argc, argv, &i, "--source", &o.source) ||
            take_opt(argc, argv, &i, "--pdq-quality", &o.pdq_quality) ||
            take_opt(argc, argv, &i, "--hash", &o.hash) ||
            take_opt(argc, argv, &i, "--wait", &o.wait))
            continue;
        if (strcmp(argv[i], "--skip-invalid") == 0) {
            o.skip_invalid = 1;
            continue;
        }
        if (strcmp(argv[i], "--all") == 0) {
            o.all = 1;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') { /* "-" alone: stdin */
            fprintf(stderr, "sitr-admin: unknown option %s (see --help)\n", argv[i]);
            free(pos);
            return ADMIN_USAGE;
        }
        pos[npos++] = argv[i];
    }
    int rc;
    if (npos == 0) {
        usage(stderr);
        rc = ADMIN_USAGE;
    } else if (strcmp(pos[0], "migrate") == 0 && npos == 1) {
        rc = admin_migrate(&o);
    } else if (strcmp(pos[0], "status") == 0 && npos == 1) {
        rc = admin_status(&o);
    } else if (strcmp(pos[0], "platform") == 0) {
        rc = admin_platform(&o, npos - 1, pos + 1);
    } else if (strcmp(pos[0], "key") == 0) {
        rc = admin_key(&o, npos - 1, pos + 1);
    } else if (strcmp(pos[0], "alerts") == 0) {
        rc = admin_alerts(&o, npos - 1, pos + 1);
    } else if (strcmp(pos[0], "stats") == 0 && npos == 1) {
        rc = admin_stats(&o);
    } else if (strcmp(pos[0], "import") == 0 && npos == 2) {
        rc = admin_import(&o, pos[1]);
    } else if (strcmp(pos[0], "source") == 0) {
        rc = admin_source(&o, npos - 1, pos + 1);
    } else {
        fprintf(stderr, "sitr-admin: unknown command '%s' (see --help)\n", pos[0]);
        rc = ADMIN_USAGE;
    }
    free(pos);
    return rc;
}
