/* The `sitr` command: dispatches to subcommands and answers --help and
 * --version.  Each subcommand parses its own options and returns the exit
 * status (0 success, 1 failure, 2 usage error).
 *
 * The language (i18n.h) is chosen here before anything is printed: from
 * the environment, or --lang en|fr|ar; --lang and --verbose are taken out
 * of the arguments wherever they stand (before "--"), so every subcommand
 * accepts them and none has to know. */
#include <stdio.h>
#include <string.h>

#include <sitr/secmem.h>

#include "case_cmd.h"
#include "hash_cmd.h"
#include "i18n.h"
#include "report_cmd.h"

static void usage(FILE *f)
{
    sitr_tr_put(f, SITR_TX_CLI_USAGE, NULL);
}

/* Removes --lang L, --lang=L, --verbose and -v from argv (argv[0] kept).
 * Returns the new argc, or -1 after printing why for a bad --lang. */
static int take_global_options(int argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            sitr_i18n_set_verbose(1);
            continue;
        }
        const char *value = NULL;
        if (strcmp(a, "--lang") == 0) {
            if (i + 1 >= argc) {
                sitr_tr_put(stderr, SITR_TX_CLI_ERR_LANG_MISSING, NULL);
                return -1;
            }
            value = argv[++i];
        } else if (strncmp(a, "--lang=", 7) == 0) {
            value = a + 7;
        }
        if (value != NULL) {
            sitr_lang_t l;
            if (sitr_i18n_parse(value, &l) < 0) {
                sitr_tr_put(stderr, SITR_TX_CLI_ERR_LANG, "lang", value, NULL);
                return -1;
            }
            sitr_i18n_set(l);
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    /* The server's answer to `sitr case create` holds the case secret:
     * jansson's copies of it are wiped when freed. */
    sitr_secmem_json_init();
    sitr_i18n_init();
    argc = take_global_options(argc, argv);
    if (argc < 0)
        return 2;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sitr %s\n", SITR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[2], "hash") == 0) {
            sitr_hash_cmd_usage(stdout);
            return 0;
        }
        if (strcmp(argv[2], "case") == 0) {
            sitr_case_cmd_usage(stdout);
            return 0;
        }
        if (strcmp(argv[2], "report") == 0) {
            sitr_report_cmd_usage(stdout);
            return 0;
        }
        sitr_tr_put(stderr, SITR_TX_CLI_ERR_COMMAND, "command", argv[2], NULL);
        return 2;
    }
    if (strcmp(cmd, "hash") == 0)
        return sitr_hash_cmd_run(argc - 1, argv + 1, argv[0]);
    if (strcmp(cmd, "case") == 0)
        return sitr_case_cmd_run(argc - 1, argv + 1, argv[0]);
    if (strcmp(cmd, "report") == 0)
        return sitr_report_cmd_run(argc - 1, argv + 1);
    if (cmd[0] == '-')
        sitr_tr_put(stderr, SITR_TX_CLI_ERR_OPTION, "option", cmd, NULL);
    else
        sitr_tr_put(stderr, SITR_TX_CLI_ERR_COMMAND, "command", cmd, NULL);
    return 2;
}
