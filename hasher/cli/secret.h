/* Getting the case secret into the `sitr case` commands without ever
 * taking it as a command-line argument (argv is visible to every user of
 * the computer through ps and /proc), and asking the person at the
 * terminal to confirm.  Main thread only. */
#ifndef SITR_CLI_SECRET_H
#define SITR_CLI_SECRET_H

#include <stddef.h>
#include <sitr/err.h>

#define SITR_SECRET_ENV     "SITR_CASE_SECRET"
#define SITR_SECRET_MAX_LEN 128

/* Reads the secret from file (when non-NULL; its first line), else from
 * the environment variable SITR_CASE_SECRET, else by asking on the
 * controlling terminal without echo (prompt names the case; three tries).
 * What was typed is read with the shared rule of sitr/token.h (spaces,
 * hyphens, lower case, O/0 and I/L/1 confusions, Arabic digits) and
 * checked by its check symbol; out gets the canonical secret.  Returns 0,
 * or a negative code after printing why on stderr (prefixed with prog).
 * The caller wipes out with explicit_bzero when done. */
SITR_MUST_CHECK int sitr_secret_read(const char *prog, const char *file, const char *case_ref,
                                     char out[SITR_SECRET_MAX_LEN + 1]);

/* Asks question on the controlling terminal (echo on) and puts the answer,
 * white space trimmed, into buf.  Returns its length (0 for an empty
 * answer or end of input), or a negative code (printed: it says --yes)
 * when there is no terminal to ask. */
int sitr_secret_ask(const char *prog, const char *question, char *buf, size_t cap);

/* Asks question and returns 1 when the answer is one of words (ASCII case
 * ignored), 0 for any other answer, or a negative code (printed) when
 * there is no terminal to ask. */
int sitr_secret_confirm(const char *prog, const char *question, const char *const *words,
                        size_t nwords);

/* Creates path for the secret, exclusively (an existing file or link is
 * never overwritten) and readable by its owner only (mode 0600).
 * Returns the open descriptor, or -1 after printing why. */
int sitr_secret_save_open(const char *prog, const char *path);

/* Writes "<secret>\n" to fd and closes it.  0, or -1 after printing why. */
int sitr_secret_save_write(const char *prog, int fd, const char *path, const char *secret);

#endif
