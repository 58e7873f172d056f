/* Folder walk for `sitr hash`: turns PATH arguments into an ordered list of
 * files.
 *
 * Invariants: the order is a pure function of the file tree (names sorted by
 * strcmp, depth first), so two runs on the same tree print the same lines;
 * every problem (missing file, unreadable folder, symlink loop) becomes one
 * entry at the place it was found, so it can be reported in order and never
 * stops the walk.  Loops are detected by comparing each folder's device and
 * inode with the folders above it, which catches symlinked ancestors
 * without limiting legitimate symlinks.  Runs on the main thread before
 * any hashing starts. */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id_t;

typedef struct walk_ctx {
    sitr_walk_list_t *list;
    dir_id_t stack[SITR_WALK_MAX_DEPTH];
    int depth;
} walk_ctx_t;

char *sitr_walk_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

/* Takes ownership of path (and frees it on failure). */
static int push(sitr_walk_list_t *list, char *path, int err, char *msg)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        sitr_walk_entry_t *v = realloc(list->v, cap * sizeof(*v));
        if (v == NULL) {
            free(path);
            free(msg);
            return SITR_ENOMEM;
        }
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = (sitr_walk_entry_t){.path = path, .err = err, .msg = msg};
    return 0;
}

__attribute__((format(printf, 4, 5))) static int
push_error(sitr_walk_list_t *list, const char *path, int err, const char *fmt, ...)
{
    char *p = strdup(path);
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg = NULL;
    if (p == NULL || msg == NULL) {
        free(p);
        free(msg);
        return SITR_ENOMEM;
    }
    return push(list, p, err, msg);
}

/* Error entry for a failed stat() or opendir(). */
static int push_errno(sitr_walk_list_t *list, const char *path, int e, const char *what)
{
    int code = e == ENOENT || e == ENOTDIR ? SITR_ENOENT
               : e == ELOOP                ? SITR_ELOOP
               : e == ENOMEM               ? SITR_ENOMEM
                                           : SITR_EIO;
    return push_error(list, path, code, "%s: %s", what, strerror(e));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_path(walk_ctx_t *ctx, char *path, const struct stat *st);

/* Lists a folder, sorted, and walks each visible entry.  The folder's own
 * id is already on ctx->stack. */
static int walk_dir(walk_ctx_t *ctx, const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return push_errno(ctx->list, path, errno, "cannot open folder");

    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        /* Hidden entries (and "." and "..") are skipped: in photo folders
         * they are metadata such as .DS_Store or ._AppleDouble files. */
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (nn == NULL) {
                rc = SITR_ENOMEM;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = SITR_ENOMEM;
            goto out;
        }
        n++;
        errno = 0;
    }
    if (errno != 0) {
        rc = push_errno(ctx->list, path, errno, "cannot read folder");
        goto out;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);

    for (size_t i = 0; i < n && rc == 0; i++) {
        char *child = sitr_walk_join(path, names[i]);
        if (child == NULL) {
            rc = SITR_ENOMEM;
            break;
        }
        struct stat st;
        if (stat(child, &st) != 0) {
            rc = push_errno(ctx->list, child, errno, "cannot read");
            free(child);
            continue;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            /* Sockets, pipes and devices inside a folder are not images;
             * opening a pipe could even block forever. */
            free(child);
            continue;
        }
        rc = walk_path(ctx, child, &st);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* Takes ownership of path; st is its stat() (symlinks followed). */
static int walk_path(walk_ctx_t *ctx, char *path, const struct stat *st)
{
    if (S_ISREG(st->st_mode))
        return push(ctx->list, path, 0, NULL);
    if (!S_ISDIR(st->st_mode)) {
        int rc = push_error(ctx->list, path, SITR_EINVAL, "not a regular file or folder");
        free(path);
        return rc;
    }
    for (int i = 0; i < ctx->depth; i++) {
        if (ctx->stack[i].dev == st->st_dev && ctx->stack[i].ino == st->st_ino) {
            int rc = push_error(ctx->list, path, SITR_ELOOP,
                                "symlink loop: leads back to a folder being walked");
            free(path);
            return rc;
        }
    }
    if (ctx->depth == SITR_WALK_MAX_DEPTH) {
        int rc = push_error(ctx->list, path, SITR_ETOOBIG, "folders nested deeper than %d",
                            SITR_WALK_MAX_DEPTH);
        free(path);
        return rc;
    }
    ctx->stack[ctx->depth++] = (dir_id_t){st->st_dev, st->st_ino};
    int rc = walk_dir(ctx, path);
    ctx->depth--;
    free(path);
    return rc;
}

int sitr_walk_add(sitr_walk_list_t *list, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) != 0)
        return push_errno(list, arg, errno, "cannot read");
    char *path = strdup(arg);
    if (path == NULL)
        return SITR_ENOMEM;
    /* The context holds the ancestor stack (a few KiB): keep it off the
     * recursion and allocate it once per argument. */
    walk_ctx_t *ctx = malloc(sizeof(*ctx));
    if (ctx == NULL) {
        free(path);
        return SITR_ENOMEM;
    }
    ctx->list = list;
    ctx->depth = 0;
    int rc = walk_path(ctx, path, &st);
    free(ctx);
    return rc;
}

void sitr_walk_list_free(sitr_walk_list_t *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->v[i].path);
        free(list->v[i].msg);
    }
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}
