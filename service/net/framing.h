/* Strict HTTP/1.1 message syntax (RFC 9112) in front of http-parser.
 *
 * Debian's http-parser is built lenient: it accepts bare LF line endings,
 * folded header lines, junk where CRLF must follow chunk data, whitespace
 * in chunk sizes, any HTTP version, and reads "gzip, chunked" as chunked.
 * A proxy in front of sitrd may frame such a request differently, which is
 * how requests are smuggled.  This module checks every byte before the
 * parser sees it and refuses what RFC 9112 refuses; the connection answers
 * 400 and closes.
 *
 * sitr_framing_scan walks the bytes of one connection in order, across
 * reads, and stops after the blank line that ends a request head: the
 * body's framing is then what http-parser decided from the headers
 * (sitr_framing_body, called from its on_headers_complete), so the two can
 * never disagree about where a message ends.  sitr_framing_check_head
 * applies the rules on header fields (Transfer-Encoding, Content-Length,
 * Host) once the head is parsed.  No allocation; loop thread only (one per
 * connection). */
#ifndef SITR_FRAMING_H
#define SITR_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

/* Longest chunk-size line (size and extensions), in bytes.  Extensions are
 * ignored; the bound stops a client from sending them for ever. */
#define SITR_FRAMING_MAX_CHUNK_LINE 1024

typedef struct sitr_framing {
    int state;          /* where in the grammar the next byte is */
    int trailer;        /* the header lines being read are a chunked trailer */
    int waiting;        /* a head has ended: sitr_framing_body comes next */
    unsigned matched;   /* bytes of the version ("HTTP/1.x") or chunk line so far */
    uint64_t remaining; /* body bytes still to come (length, or this chunk's data) */
    const char *error;  /* why the input is refused (a static message); NULL while fine */
} sitr_framing_t;

void sitr_framing_init(sitr_framing_t *f);

/* Checks the next len bytes of the connection.  Returns how many of them
 * are well-formed; fewer than len when a head has just ended (f->waiting:
 * call sitr_framing_body before scanning further) or when the byte after
 * them is refused (f->error says why; scanning further returns 0). */
size_t sitr_framing_scan(sitr_framing_t *f, const char *data, size_t len);

/* The framing of the body after the head just scanned: chunked, or
 * length bytes (0: no body). */
void sitr_framing_body(sitr_framing_t *f, int chunked, uint64_t length);

/* The rules on a parsed head's fields: a lone "chunked" Transfer-Encoding
 * (never with Content-Length, never in HTTP/1.0), at most one Content-Length
 * made of digits, exactly one Host in HTTP/1.1 (at most one in HTTP/1.0)
 * with a well-formed value.  Returns NULL, or a static message for the 400
 * answer (it never quotes the request). */
const char *sitr_framing_check_head(const sitr_http_header_t *headers, int nheaders,
                                    unsigned http_major, unsigned http_minor);

#endif
