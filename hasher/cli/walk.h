/* Expanding the PATH arguments of `sitr hash` into the list of files to hash.
 *
 * Owned by the thread that builds the list; read-only afterwards, so worker
 * threads may read it without locks. */
#ifndef SITR_CLI_WALK_H
#define SITR_CLI_WALK_H

#include <stddef.h>
#include <sitr/err.h>

/* Folders nested deeper than this are reported instead of entered. */
#define SITR_WALK_MAX_DEPTH 256

/* One file to hash, or one problem found while walking (then err < 0 and
 * the entry is reported in its place in the output instead of hashed). */
typedef struct sitr_walk_entry {
    char *path; /* as printed and opened: the argument joined with the path inside it */
    int err;    /* 0, or a SITR_E* code */
    char *msg;  /* NULL when err == 0; a sentence without the path otherwise */
} sitr_walk_entry_t;

typedef struct sitr_walk_list {
    sitr_walk_entry_t *v;
    size_t n, cap;
} sitr_walk_list_t;

/* Appends the files that one command-line argument stands for, in output
 * order: a regular file (or a symlink to one) is itself; a folder is
 * walked recursively, its entries sorted by name (byte order) and hidden
 * entries (names starting with '.') skipped; symlinks are followed, and
 * one that leads back into a folder being walked becomes an error entry
 * (SITR_ELOOP) rather than an endless walk.  Anything else -- a missing
 * path, an unreadable folder, a special file given explicitly -- becomes
 * an error entry.  Returns 0, or SITR_ENOMEM (the list stays valid). */
SITR_MUST_CHECK int sitr_walk_add(sitr_walk_list_t *list, const char *arg);

/* Frees every entry; the list is empty and reusable afterwards. */
void sitr_walk_list_free(sitr_walk_list_t *list);

/* Joins a folder path and a name with exactly one '/' between them
 * (none added when dir already ends with '/').  Caller frees. */
char *sitr_walk_join(const char *dir, const char *name);

#endif
