/* Formatting `sitr hash` results: text, CSV, JSON Lines and, for one
 * video, Meta's vPDQ line format.
 *
 * Called from the printing thread only; every function writes whole
 * records so that lines never interleave. */
#ifndef SITR_CLI_OUTPUT_H
#define SITR_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>
#include <sitr/err.h>
#include <sitr/image.h>
#include <sitr/video.h>

typedef enum sitr_output_format {
    SITR_OUTPUT_TEXT = 0, /* <pdq>,<quality>,<path> (Meta's pdq-photo-hasher line) */
    SITR_OUTPUT_CSV,      /* path,pdq,quality,md5,sha256 with a header */
    SITR_OUTPUT_JSONL,    /* one JSON object per file */
    SITR_OUTPUT_VPDQ      /* one video: frameNumber,quality,pdqHex,timestamp per frame */
} sitr_output_format_t;

typedef struct sitr_output {
    FILE *f;
    sitr_output_format_t format;
    int dihedral; /* print the 8 dihedral hashes (always for images in JSONL) */
    int videos;   /* the batch holds a video: CSV gets frame and timestamp columns */
} sitr_output_t;

/* Parses "text", "csv", "jsonl" or "vpdq"; SITR_EINVAL otherwise. */
SITR_MUST_CHECK int sitr_output_parse_format(const char *s, sitr_output_format_t *out);

/* Writes what comes before the first record (the CSV header). */
SITR_MUST_CHECK int sitr_output_begin(const sitr_output_t *o);

/* Writes one hashed image.  img->pdq.dihedral must be filled when the format
 * prints it.  Returns 0, SITR_ENOMEM or SITR_EIO (write failed), or
 * SITR_EINVAL with nothing written when the text format is asked for a
 * path holding a line break (it cannot be printed without forging a line),
 * or for the vpdq format (videos only). */
SITR_MUST_CHECK int sitr_output_result(const sitr_output_t *o, const char *path,
                                       const sitr_image_t *img);

/* Writes one failed file where the format has a place for errors (JSONL
 * only: {"path":..., "error":{"code":..., "message":...}}); a no-op for
 * text and CSV, whose errors go to stderr alone. */
SITR_MUST_CHECK int sitr_output_error(const sitr_output_t *o, const char *path, int code,
                                      const char *message);

/* Writes one hashed video (output_video.c):
 *   text   video,<hashed frames>,<duration %.3f>,<path>
 *   csv    one row per hashed frame: path, the frame's pdq and quality, the
 *          file's md5 and sha256, [8 dihedral hashes,] frame, timestamp
 *   jsonl  {"type":"video","path","md5","sha256","duration","fps","width",
 *          "height","frames":[{"n","t","pdq","quality"[,"dihedral"]
 *          [,"trimmed":{"pdq","quality"}]}...]}
 *   vpdq   the reference's line per hashed frame (SPEC.md §6), no path.
 * Frames' dihedral hashes are printed (csv, jsonl) when o->dihedral is set,
 * and must then be filled; "trimmed" appears for the frames that have one.
 * Returns 0, SITR_ENOMEM, SITR_EIO, or SITR_EINVAL with nothing written for
 * a line break in the path in the text format. */
SITR_MUST_CHECK int sitr_output_video(const sitr_output_t *o, const char *path,
                                      const sitr_video_t *v);

/* sitr_output_error for a file recognised as a video: in JSONL the object
 * also says "type":"video". */
SITR_MUST_CHECK int sitr_output_video_error(const sitr_output_t *o, const char *path, int code,
                                            const char *message);

/* Writes a JSON object as one line and releases it (NULL: SITR_ENOMEM). */
SITR_MUST_CHECK int sitr_output_jsonl_line(FILE *f, json_t *obj, size_t real_precision);

/* A JSON string of path, with bytes that are not UTF-8 replaced; NULL on
 * allocation failure. */
json_t *sitr_output_json_path(const char *path);

/* Writes s as one RFC 4180 CSV field (quoted when needed). */
void sitr_output_csv_field(FILE *f, const char *s);

/* Flushes f; SITR_EIO when f has failed. */
SITR_MUST_CHECK int sitr_output_flush(FILE *f);

/* Stable lower-case name of an error code ("corrupt", "noent", ...), as
 * used in JSON error objects. */
const char *sitr_output_code_name(int code);

/* Copies s into a new string that is valid UTF-8, replacing each invalid
 * byte with U+FFFD (file names are bytes, JSON strings are Unicode).
 * Caller frees; NULL on allocation failure. */
char *sitr_output_utf8_sanitize(const char *s);

#endif
