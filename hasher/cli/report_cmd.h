/* `sitr report verify FILE`: checks that an evidence report (the JSON, or
 * the HTML page that carries it) was signed by the operator's key and not
 * changed since (sitr/report_sign.h).  Works offline. */
#ifndef SITR_CLI_REPORT_CMD_H
#define SITR_CLI_REPORT_CMD_H

#include <stdio.h>

void sitr_report_cmd_usage(FILE *f);
/* argv[0] is "report".  Exit status: 0 genuine, 1 not genuine or
 * unreadable, 2 usage error. */
int sitr_report_cmd_run(int argc, char **argv);

#endif
