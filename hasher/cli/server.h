/* Which sitr server `sitr case` talks to: never a guess.
 *
 * In this order: --server URL; the environment variable SITR_SERVER; the
 * small file that `sitr case create` writes after opening a case
 * ($XDG_CONFIG_HOME/sitr/server, else ~/.config/sitr/server; mode 0600;
 * it holds the server's URL and nothing else, never a case number or a
 * secret).  With none of them the command refuses to run and says how to
 * name the server, and every command says which server it uses and where
 * that came from, so on a shared computer her hashes never go to a
 * service she did not choose.  Main thread only. */
#ifndef SITR_CLI_SERVER_H
#define SITR_CLI_SERVER_H

#include <stddef.h>

#define SITR_SERVER_ENV     "SITR_SERVER"
#define SITR_SERVER_URL_MAX 2048

typedef enum sitr_server_from {
    SITR_SERVER_NONE = 0,
    SITR_SERVER_OPTION, /* --server */
    SITR_SERVER_ENVVAR, /* SITR_SERVER */
    SITR_SERVER_CONFIG  /* the file written by sitr case create */
} sitr_server_from_t;

typedef struct sitr_server_choice {
    char url[SITR_SERVER_URL_MAX + 1];
    sitr_server_from_t from;
    char config[4096]; /* the config file's path ("" when there is no home) */
} sitr_server_choice_t;

/* Picks the server: option (may be NULL), then SITR_SERVER, then the
 * config file.  Returns 0 (from says where; NONE when nothing names a
 * server), or -1 after printing why when the config file exists but cannot
 * be trusted (not a regular file, not the user's own, writable by others,
 * too long, or no http(s) URL on its line). */
int sitr_server_choose(const char *prog, const char *option, sitr_server_choice_t *out);

/* Prints on stderr which server is used and why (one line). */
void sitr_server_announce(const sitr_server_choice_t *c);

/* Writes url as the saved server, creating the folder (0700) and the file
 * (0600) and replacing the file whole (a new file renamed over it).
 * Returns 0, or -1 after printing a warning (the case itself is fine). */
int sitr_server_save(const char *prog, const sitr_server_choice_t *c);

#endif
