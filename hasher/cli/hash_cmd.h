/* `sitr hash`: PDQ hashes of files and folders, computed locally. */
#ifndef SITR_CLI_HASH_CMD_H
#define SITR_CLI_HASH_CMD_H

#include <stdio.h>

/* Runs the subcommand.  argv[0] is "hash"; argv0 is the program's own
 * argv[0] (for libvips).  Returns the exit status: 0 every file hashed,
 * 1 some file failed, 2 usage error. */
int sitr_hash_cmd_run(int argc, char **argv, const char *argv0);

/* Prints the subcommand's --help text. */
void sitr_hash_cmd_usage(FILE *f);

#endif
