/* The line parsers of `sitr-admin import` (import.c): a partner's hash list,
 * one record per line, turned into validated rows or a refusal with its
 * reason.  Pure functions over one line at a time (no I/O, no database), so
 * that every format and every refusal is unit-tested (tests/tools).
 *
 * Formats (docs/OPERATIONS.md, "Importing partner hash lists"):
 *  - csv: a header naming its columns (pdq, quality, md5, sha256, any
 *    subset, quality required with pdq; also `sitr hash --format csv`'s path
 *    and dihedral columns), then one image per line, RFC 4180 quoting;
 *  - jsonl: `sitr hash --format jsonl`, one JSON object per line;
 *  - hma: HMA's bank content export (see import_parse.c);
 *  - te: ThreatExchange's hash TSV (see import_parse.c).
 * Every field is checked: hex of the exact length, quality 0..100, a
 * quality-below-50 PDQ dropped when the line has an MD5 or SHA-256 (as
 * /v1/cases does) and the line refused otherwise. */
#ifndef SITR_ADMIN_IMPORT_PARSE_H
#define SITR_ADMIN_IMPORT_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest line accepted (bytes, without the line break). */
#define IMPORT_LINE_MAX   65536
#define IMPORT_REASON_MAX 160

typedef enum import_format {
    IMPORT_FMT_AUTO = 0,
    IMPORT_FMT_CSV,
    IMPORT_FMT_JSONL,
    IMPORT_FMT_HMA,
    IMPORT_FMT_TE
} import_format_t;

/* One image, validated. */
typedef struct import_row {
    int has_pdq, has_md5, has_sha;
    int quality;     /* with has_pdq: 50..100 */
    int nvariants;   /* other dihedral PDQs: distinct, != pdq, 0..7 */
    int pdq_dropped; /* 1: the line's PDQ had quality < 50 and was dropped */
    uint8_t pdq[32], md5[16], sha256[32];
    uint8_t variants[7][32];
} import_row_t;

/* Per-file state: the format and, for csv/hma/te, the header's columns. */
typedef struct import_parser {
    import_format_t format;
    int assumed_quality; /* hma, te: the PDQ quality the operator vouches for (0: none) */
    int have_header;
    int ncols;
    int cols[32]; /* column i's meaning (import_parse.c) */
} import_parser_t;

enum { IMPORT_REFUSED = -1, IMPORT_SKIP = 0, IMPORT_ROW = 1, IMPORT_BAD_FILE = -2 };

/* "csv", "jsonl", "hma", "te" -> format; 0 or -1. */
int import_format_parse(const char *s, import_format_t *out);
const char *import_format_name(import_format_t f);

/* Guesses the format from the first non-blank line (NUL-terminated, no
 * line break): IMPORT_FMT_AUTO when it cannot tell. */
import_format_t import_format_detect(const char *line);

/* assumed_quality: --pdq-quality (0 when not given); HMA and ThreatExchange
 * lists carry no PDQ quality, so their PDQs are refused without it. */
void import_parser_init(import_parser_t *p, import_format_t f, int assumed_quality);

/* Parses one line (len bytes, no line break; it may hold NUL bytes, which
 * are refused).  Returns IMPORT_ROW (row filled), IMPORT_SKIP (a blank line
 * or the header), IMPORT_REFUSED (reason filled: this line is refused) or
 * IMPORT_BAD_FILE (reason filled: the header is unusable, nothing after it
 * can be read). */
int import_parse_line(import_parser_t *p, const char *line, size_t len, import_row_t *row,
                      char reason[IMPORT_REASON_MAX]);

#endif
