/* `sitr case`: create, check, extend and withdraw a case on a sitr server,
 * sending only hashes computed on this computer. */
#ifndef SITR_CLI_CASE_CMD_H
#define SITR_CLI_CASE_CMD_H

#include <stdio.h>

/* Runs the subcommand.  argv[0] is "case"; argv0 is the program's own
 * argv[0] (for libvips).  Returns the exit status: 0 done, 1 failure,
 * 2 usage error. */
int sitr_case_cmd_run(int argc, char **argv, const char *argv0);

/* Prints the subcommand's --help text. */
void sitr_case_cmd_usage(FILE *f);

#endif
