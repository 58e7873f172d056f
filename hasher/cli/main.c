/* The `sitr` command: dispatches to subcommands and answers --help and
 * --version.  Each subcommand parses its own options and returns the exit
 * status (0 success, 1 failure, 2 usage error). */
#include <stdio.h>
#include <string.h>

#include <sitr/secmem.h>

#include "case_cmd.h"
#include "hash_cmd.h"

static void usage(FILE *f)
{
    fputs("Usage: sitr COMMAND [ARGS...]\n"
          "\n"
          "sitr helps take intimate images off platforms without the images ever\n"
          "leaving your computer: only their hashes do.\n"
          "\n"
          "Commands:\n"
          "  hash     compute PDQ hashes of image files and vPDQ hashes of video files\n"
          "           and folders, locally\n"
          "  case     open a case on a sitr server with those hashes (never the images\n"
          "           or videos), then check it, add images or videos to it or withdraw it:\n"
          "             sitr case create PATH...      sitr case status CASE\n"
          "             sitr case add CASE PATH...    sitr case withdraw CASE\n"
          "             sitr case report CASE [--html FILE] (the evidence report)\n"
          "\n"
          "Options:\n"
          "  -h, --help     show this help\n"
          "  -V, --version  show the version\n"
          "\n"
          "Run 'sitr COMMAND --help' for the options of a command.\n"
          "\n"
          "Exit status: 0 done, 1 failure, 2 usage error.\n",
          f);
}

int main(int argc, char **argv)
{
    /* The server's answer to `sitr case create` holds the case secret:
     * jansson's copies of it are wiped when freed. */
    sitr_secmem_json_init();
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
        fprintf(stderr, "sitr: unknown command '%s'\nTry 'sitr --help'.\n", argv[2]);
        return 2;
    }
    if (strcmp(cmd, "hash") == 0)
        return sitr_hash_cmd_run(argc - 1, argv + 1, argv[0]);
    if (strcmp(cmd, "case") == 0)
        return sitr_case_cmd_run(argc - 1, argv + 1, argv[0]);
    if (cmd[0] == '-')
        fprintf(stderr, "sitr: unknown option '%s'\nTry 'sitr --help'.\n", cmd);
    else
        fprintf(stderr, "sitr: unknown command '%s'\nTry 'sitr --help'.\n", cmd);
    return 2;
}
