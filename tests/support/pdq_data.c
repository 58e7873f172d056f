/* The PDQ test corpora (see pdq_data.h).  The counts are those of the files
 * each corpus holds; tests/data/pdq/README.md lists the vendored ones. */
#include "pdq_data.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const pdqt_corpus_t vendored = {
    .name = "vendored",
    .dir = SITR_SOURCE_DIR "/tests/data/pdq",
    .images = 18,
    .jpegs = 16,
    .luma_vectors = 11,
    .luma_images = 6,
    .bridge = 6,
};

static const pdqt_corpus_t extended = {
    .name = "extended",
    .dir = SITR_SHARED_DIR "/testdata/pdq",
    .images = 49,
    .jpegs = 37,
    .luma_vectors = 15,
    .luma_images = 10,
    .bridge = 12,
};

const pdqt_corpus_t *pdqt_vendored(void)
{
    return &vendored;
}

const pdqt_corpus_t *pdqt_extended(const char *what)
{
    /* A file the vendored subset does not have: a partial copy is absent. */
    if (access(SITR_SHARED_DIR "/testdata/pdq/expected.csv", R_OK) == 0 &&
        access(SITR_SHARED_DIR "/testdata/pdq/misc-images/modes/RGBA.png", R_OK) == 0)
        return &extended;
    print_message("skipped: extended corpus not present (%s)\n", what);
    return NULL;
}

const char *pdqt_path(const pdqt_corpus_t *c, const char *rel, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", c->dir, rel);
    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **pdqt_bridge_names(const pdqt_corpus_t *c)
{
    char dir[1024];
    DIR *d = opendir(pdqt_path(c, "bridge-mods", dir, sizeof dir));
    assert_non_null(d);
    char **names = calloc((size_t)c->bridge + 1, sizeof *names);
    assert_non_null(names);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(n < c->bridge);
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    assert_int_equal(n, c->bridge);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    return names;
}

void pdqt_names_free(char **names)
{
    if (names == NULL)
        return;
    for (char **p = names; *p != NULL; p++)
        free(*p);
    free(names);
}
