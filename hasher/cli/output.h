/* Formatting `sitr hash` results: text, CSV and JSON Lines.
 *
 * Called from the printing thread only; every function writes whole
 * records so that lines never interleave. */
#ifndef SITR_CLI_OUTPUT_H
#define SITR_CLI_OUTPUT_H

#include <stdio.h>
#include <sitr/err.h>
#include <sitr/image.h>

typedef enum sitr_output_format {
    SITR_OUTPUT_TEXT = 0, /* <pdq>,<quality>,<path> (Meta's pdq-photo-hasher line) */
    SITR_OUTPUT_CSV,      /* path,pdq,quality,md5,sha256 with a header */
    SITR_OUTPUT_JSONL     /* one JSON object per file */
} sitr_output_format_t;

typedef struct sitr_output {
    FILE *f;
    sitr_output_format_t format;
    int dihedral; /* print the 8 dihedral hashes (always in JSONL) */
} sitr_output_t;

/* Parses "text", "csv" or "jsonl"; SITR_EINVAL otherwise. */
SITR_MUST_CHECK int sitr_output_parse_format(const char *s, sitr_output_format_t *out);

/* Writes what comes before the first record (the CSV header). */
SITR_MUST_CHECK int sitr_output_begin(const sitr_output_t *o);

/* Writes one hashed file.  img->pdq.dihedral must be filled when the format
 * prints it.  Returns 0, SITR_ENOMEM or SITR_EIO (write failed), or
 * SITR_EINVAL with nothing written when the text format is asked for a
 * path holding a line break (it cannot be printed without forging a line). */
SITR_MUST_CHECK int sitr_output_result(const sitr_output_t *o, const char *path,
                                       const sitr_image_t *img);

/* Writes one failed file where the format has a place for errors (JSONL
 * only: {"path":..., "error":{"code":..., "message":...}}); a no-op for
 * text and CSV, whose errors go to stderr alone. */
SITR_MUST_CHECK int sitr_output_error(const sitr_output_t *o, const char *path, int code,
                                      const char *message);

/* Stable lower-case name of an error code ("corrupt", "noent", ...), as
 * used in JSON error objects. */
const char *sitr_output_code_name(int code);

/* Copies s into a new string that is valid UTF-8, replacing each invalid
 * byte with U+FFFD (file names are bytes, JSON strings are Unicode).
 * Caller frees; NULL on allocation failure. */
char *sitr_output_utf8_sanitize(const char *s);

#endif
