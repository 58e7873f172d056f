/* Validation of the image list that victims send to POST /v1/cases and
 * POST /v1/cases/{case}/images, and its normalised form for the database.
 *
 * Request body: {"images":[item, ...]}, nothing else at the top level.
 * An item is an object with only these members (null counts as absent):
 *   "pdq"      64 hex digits (either case)            the plain PDQ hash
 *   "quality"  integer 0..100, required with "pdq", refused without it
 *   "dihedral" array of up to 8 PDQ hashes, only with "pdq": the hasher's
 *              dihedral variants.  The hasher's set of 8 includes the plain
 *              hash itself; entries equal to "pdq" and repeated entries are
 *              dropped, so at most 7 more variants are stored per image.
 *   "md5"      32 hex digits
 *   "sha256"   64 hex digits
 * and at least one of pdq, md5, sha256.
 *
 * PDQ quality below 50 (DESIGN.md "Matching rules"): the PDQ and its
 * variants are refused because a featureless image would cause false
 * takedowns, but the item's MD5/SHA-256 are kept; the response lists the
 * item under "warnings" with code "pdq_quality_too_low".  An item whose
 * only hash is such a PDQ has nothing left to keep and fails the whole
 * request with 422 "pdq_quality_too_low".  Any other fault fails the whole
 * request with 422 and "field" set to the JSON path of the fault, e.g.
 * "images[3].pdqq"; nothing is stored then.
 *
 * Duplicates: an item whose normalised hashes equal an earlier item's is
 * dropped and counted in "duplicates".  (Duplicates of images the case
 * already holds are recognised by the database function.)
 *
 * Output, one object per kept item, hex in lower case, absent members
 * omitted, "dihedral" present (possibly empty) exactly when "pdq" is:
 *   {"pdq":"..","quality":N,"dihedral":[..],"md5":"..","sha256":".."}
 *
 * Pure functions on jansson values; any thread. */
#ifndef SITR_IMAGES_JSON_H
#define SITR_IMAGES_JSON_H

#include <stddef.h>
#include <jansson.h>

#define SITR_IMAGES_MAX_DIHEDRAL 8

typedef struct sitr_images_error {
    const char *code; /* stable snake_case, static */
    char message[160];
    char field[128]; /* JSON path, "" when the fault is the whole body */
} sitr_images_error_t;

typedef struct sitr_images {
    json_t *images;    /* normalised array (owned) */
    json_t *warnings;  /* [{"index":i,"code":..,"field":..,"message":..}] (owned) */
    size_t count;      /* json_array_size(images) */
    size_t duplicates; /* items dropped as repeats within the request */
} sitr_images_t;

/* Validates body (borrowed) allowing at most max_items items.  On success
 * returns 0 and fills out (release with sitr_images_clear).  On a fault
 * returns -1, fills err (the HTTP status is always 422) and leaves out
 * empty. */
int sitr_images_parse(const json_t *body, size_t max_items, sitr_images_t *out,
                      sitr_images_error_t *err);

/* The same for the array arr alone (a body's "images" member, which the
 * caller has found): allow_empty accepts an empty array (a case body that
 * also carries videos).  Same results as sitr_images_parse. */
int sitr_images_parse_list(const json_t *arr, size_t max_items, int allow_empty, sitr_images_t *out,
                           sitr_images_error_t *err);

/* Releases what sitr_images_parse filled; safe on a zeroed or cleared struct. */
void sitr_images_clear(sitr_images_t *im);

#endif
