/* Building HTML pages safely: a growable output buffer with a size cap,
 * trusted markup appended as is, and untrusted text appended escaped.
 *
 * Escaped text is safe in element content and in double- or single-quoted
 * attribute values: & < > " ' become character references.  It is also
 * made unable to rearrange the page around it: invalid UTF-8 and control
 * characters (other than tab and newline) become U+FFFD, and Unicode
 * direction controls (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM,
 * RLM, ALM) are written as visible "[U+202E]" marks, so a hostile value
 * can neither be shown reversed nor hide what it holds.
 *
 * The buffer owns its memory; once an append fails (cap or allocation) the
 * buffer is marked failed, later appends do nothing, and
 * sitr_html_finish() returns NULL.  Pure code, any thread. */
#ifndef SITR_HTML_H
#define SITR_HTML_H

#include <stddef.h>

typedef struct sitr_html {
    char *buf;
    size_t len, cap, max; /* max: the cap on len, bytes */
    int failed;
} sitr_html_t;

/* An empty buffer that will hold at most max bytes. */
void sitr_html_init(sitr_html_t *h, size_t max);
/* Frees the buffer (not h itself); safe on a finished or failed one. */
void sitr_html_clear(sitr_html_t *h);

/* Trusted markup, written as is (string literals of the page). */
void sitr_html_raw(sitr_html_t *h, const char *s);
void sitr_html_rawf(sitr_html_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Untrusted text (NULL writes nothing), escaped as described above. */
void sitr_html_text(sitr_html_t *h, const char *s);
void sitr_html_textn(sitr_html_t *h, const char *s, size_t n);

/* Decodes one UTF-8 code point at s[0..n), n >= 1: returns its length
 * (>= 1) and the code point in *cp, or -1 in *cp for an ill-formed
 * sequence (overlong, surrogate, above U+10FFFF, truncated; the length is
 * then one byte). */
size_t sitr_html_decode_utf8(const unsigned char *s, size_t n, long *cp);

/* The page, NUL-terminated, with its length in *len; the caller frees it
 * with free().  NULL when an append failed.  Either way h is left empty. */
char *sitr_html_finish(sitr_html_t *h, size_t *len);

#endif
