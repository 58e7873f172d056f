/* The PDQ test corpora: the vendored subset (tests/data/pdq, always there)
 * and the extended corpus (SITR_SHARED_DIR/testdata/pdq, Meta's 49 images
 * and 15 luma vectors) when it sits beside the checkout.  Both have the same
 * layout and the same reference files (expected.csv, expected-dihedral.csv,
 * frontend.csv, luma/index.csv), so a test runs the same checks on each,
 * with the counts below.  Only for cmocka tests. */
#ifndef SITR_TEST_PDQ_DATA_H
#define SITR_TEST_PDQ_DATA_H

#include <stddef.h>

typedef struct pdqt_corpus {
    const char *name; /* "vendored" or "extended" */
    const char *dir;  /* the corpus folder, no trailing slash */
    int images;       /* rows of expected.csv, expected-dihedral.csv, frontend.csv */
    int jpegs;        /* *.jpg files anywhere under dir */
    int luma_vectors; /* rows of luma/index.csv */
    int luma_images;  /* of those, the ones made from an image file */
    int bridge;       /* files in bridge-mods/ */
} pdqt_corpus_t;

/* The vendored subset (tests/data/pdq). */
const pdqt_corpus_t *pdqt_vendored(void);

/* The extended corpus, or NULL after printing "skipped: extended corpus not
 * present" (followed by what is skipped) when it is absent. */
const pdqt_corpus_t *pdqt_extended(const char *what);

/* "<dir>/<rel>" in buf[size]; fails the running test if it does not fit. */
const char *pdqt_path(const pdqt_corpus_t *c, const char *rel, char *buf, size_t size);

/* The names of the files in <dir>/bridge-mods, sorted (malloc'd, caller
 * frees with pdqt_names_free); their count is c->bridge (asserted). */
char **pdqt_bridge_names(const pdqt_corpus_t *c);
void pdqt_names_free(char **names);

#endif
