/* Strict HTTP/1.1 syntax ahead of http-parser (see framing.h).
 *
 * A byte-at-a-time state machine over RFC 9112's grammar for requests:
 * empty lines before a request line (CRLF only), request-line = method SP
 * request-target SP HTTP-version CRLF with the version HTTP/1.0 or
 * HTTP/1.1, field lines name ":" value CRLF (name a token, value visible
 * characters, SP, HTAB or obs-text; a line starting with whitespace is
 * obsolete line folding), then the body: a length counted down, or chunks
 * (hex size, extensions without whitespace, CRLF, data, CRLF) ending with a
 * zero size and trailer field lines.  Every CR must be followed by LF and
 * every LF preceded by CR.  What the state machine accepts, http-parser
 * frames the same way; the reverse is not true, which is the point.
 * Loop thread only; no allocation. */
#include "net/framing.h"

#include <string.h>
#include <strings.h>

enum {
    S_START = 0,     /* before a request line; empty lines allowed */
    S_START_LF,      /* CR of an empty line seen */
    S_METHOD,        /* inside the method */
    S_TARGET_FIRST,  /* after the SP following the method */
    S_TARGET,        /* inside the request target */
    S_VERSION,       /* matching "HTTP/1." then the minor digit */
    S_LINE_CR,       /* after the version: CR must come */
    S_LINE_LF,       /* CR of a line seen: LF must come */
    S_FIELD_START,   /* a field line or the blank line ending the section */
    S_NAME,          /* inside a field name */
    S_VALUE,         /* inside a field value */
    S_END_LF,        /* CR of the blank line seen */
    S_BODY_LENGTH,   /* remaining body bytes */
    S_CHUNK_FIRST,   /* first hex digit of a chunk size */
    S_CHUNK_SIZE,    /* more hex digits, ';' or CR */
    S_CHUNK_EXT,     /* chunk extensions, ignored */
    S_CHUNK_LF,      /* CR of the chunk-size line seen */
    S_CHUNK_DATA,    /* remaining bytes of this chunk */
    S_CHUNK_DATA_CR, /* CRLF after the data */
    S_CHUNK_DATA_LF,
    S_REFUSED
};

static const char m_crlf[] = "line endings must be CRLF";
static const char m_fold[] = "obsolete line folding is not accepted";
static const char m_line[] = "the request line is malformed";
static const char m_version[] = "only HTTP/1.1 and HTTP/1.0 are accepted";
static const char m_field[] = "a header field is malformed";
static const char m_chunk[] = "a chunk size line is malformed";
static const char m_chunk_crlf[] = "chunk data must be followed by CRLF";

/* RFC 9110 tchar. */
static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_vchar(unsigned char ch)
{
    return ch >= 0x21 && ch <= 0x7e;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

void sitr_framing_init(sitr_framing_t *f)
{
    memset(f, 0, sizeof *f);
    f->state = S_START;
}

void sitr_framing_body(sitr_framing_t *f, int chunked, uint64_t length)
{
    if (!f->waiting)
        return;
    f->waiting = 0;
    f->trailer = 0;
    f->matched = 0;
    f->remaining = 0;
    if (chunked) {
        f->state = S_CHUNK_FIRST;
    } else if (length > 0) {
        f->state = S_BODY_LENGTH;
        f->remaining = length;
    } else {
        f->state = S_START;
    }
}

static size_t refuse(sitr_framing_t *f, const char *why, size_t at)
{
    f->state = S_REFUSED;
    f->error = why;
    return at;
}

/* A chunk size beyond this is refused (no body is allowed near it). */
#define CHUNK_SIZE_MAX ((uint64_t)1 << 56)

size_t sitr_framing_scan(sitr_framing_t *f, const char *data, size_t len)
{
    static const char version[] = "HTTP/1.";
    size_t i = 0;
    while (i < len) {
        if (f->waiting || f->state == S_REFUSED)
            return i;
        unsigned char ch = (unsigned char)data[i];
        switch (f->state) {
        case S_START:
            if (ch == '\r')
                f->state = S_START_LF;
            else if (is_tchar(ch))
                f->state = S_METHOD;
            else
                return refuse(f, ch == '\n' ? m_crlf : m_line, i);
            break;
        case S_START_LF:
            if (ch != '\n')
                return refuse(f, m_crlf, i);
            f->state = S_START;
            break;
        case S_METHOD:
            if (ch == ' ')
                f->state = S_TARGET_FIRST;
            else if (!is_tchar(ch))
                return refuse(f, m_line, i);
            break;
        case S_TARGET_FIRST:
        case S_TARGET:
            if (ch == ' ' && f->state == S_TARGET) {
                f->state = S_VERSION;
                f->matched = 0;
            } else if (is_vchar(ch)) {
                f->state = S_TARGET;
            } else {
                return refuse(f, m_line, i);
            }
            break;
        case S_VERSION:
            if (f->matched < sizeof version - 1) {
                if (ch != (unsigned char)version[f->matched])
                    /* Another major version, or no version at all. */
                    return refuse(f, ch >= '0' && ch <= '9' ? m_version : m_line, i);
                f->matched++;
            } else {
                if (ch != '0' && ch != '1')
                    return refuse(f, ch >= '0' && ch <= '9' ? m_version : m_line, i);
                f->state = S_LINE_CR;
            }
            break;
        case S_LINE_CR:
            if (ch != '\r')
                return refuse(f,
                              ch == '\n'               ? m_crlf
                              : ch >= '0' && ch <= '9' ? m_version
                                                       : m_line,
                              i);
            f->state = S_LINE_LF;
            break;
        case S_LINE_LF:
            if (ch != '\n')
                return refuse(f, m_crlf, i);
            f->state = S_FIELD_START;
            break;
        case S_FIELD_START:
            if (ch == '\r')
                f->state = S_END_LF;
            else if (ch == ' ' || ch == '\t')
                return refuse(f, m_fold, i);
            else if (is_tchar(ch))
                f->state = S_NAME;
            else
                return refuse(f, ch == '\n' ? m_crlf : m_field, i);
            break;
        case S_NAME:
            /* No whitespace before the colon: "Content-Length : 5" is
             * refused, not guessed at. */
            if (ch == ':')
                f->state = S_VALUE;
            else if (!is_tchar(ch))
                return refuse(f, m_field, i);
            break;
        case S_VALUE:
            if (ch == '\r')
                f->state = S_LINE_LF;
            else if (ch != ' ' && ch != '\t' && !is_vchar(ch) && ch < 0x80)
                return refuse(f, ch == '\n' ? m_crlf : m_field, i);
            break;
        case S_END_LF:
            if (ch != '\n')
                return refuse(f, m_crlf, i);
            if (f->trailer) {
                /* The end of a chunked message. */
                f->trailer = 0;
                f->state = S_START;
            } else {
                f->waiting = 1;
            }
            break;
        case S_BODY_LENGTH: {
            size_t n = len - i;
            if ((uint64_t)n > f->remaining)
                n = (size_t)f->remaining;
            f->remaining -= n;
            i += n;
            if (f->remaining == 0)
                f->state = S_START;
            continue;
        }
        case S_CHUNK_FIRST:
        case S_CHUNK_SIZE: {
            int v = hex_value(ch);
            if (v >= 0) {
                if (f->remaining >= CHUNK_SIZE_MAX >> 4)
                    return refuse(f, m_chunk, i);
                f->remaining = (f->remaining << 4) | (uint64_t)v;
                f->state = S_CHUNK_SIZE;
            } else if (f->state == S_CHUNK_SIZE && ch == ';') {
                f->state = S_CHUNK_EXT;
            } else if (f->state == S_CHUNK_SIZE && ch == '\r') {
                f->state = S_CHUNK_LF;
            } else {
                return refuse(f, ch == '\n' ? m_crlf : m_chunk, i);
            }
            if (++f->matched > SITR_FRAMING_MAX_CHUNK_LINE)
                return refuse(f, m_chunk, i);
            break;
        }
        case S_CHUNK_EXT:
            /* Extensions are ignored; refusing whitespace in them (the
             * grammar allows some around ';' and '=') keeps every chunk-size
             * line free of it, as intermediaries disagree about it. */
            if (ch == '\r')
                f->state = S_CHUNK_LF;
            else if (!is_vchar(ch))
                return refuse(f, ch == '\n' ? m_crlf : m_chunk, i);
            if (++f->matched > SITR_FRAMING_MAX_CHUNK_LINE)
                return refuse(f, m_chunk, i);
            break;
        case S_CHUNK_LF:
            if (ch != '\n')
                return refuse(f, m_crlf, i);
            f->matched = 0;
            if (f->remaining == 0) {
                f->trailer = 1;
                f->state = S_FIELD_START;
            } else {
                f->state = S_CHUNK_DATA;
            }
            break;
        case S_CHUNK_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > f->remaining)
                n = (size_t)f->remaining;
            f->remaining -= n;
            i += n;
            if (f->remaining == 0)
                f->state = S_CHUNK_DATA_CR;
            continue;
        }
        case S_CHUNK_DATA_CR:
            if (ch != '\r')
                return refuse(f, m_chunk_crlf, i);
            f->state = S_CHUNK_DATA_LF;
            break;
        case S_CHUNK_DATA_LF:
            if (ch != '\n')
                return refuse(f, m_chunk_crlf, i);
            f->state = S_CHUNK_FIRST;
            break;
        default:
            return i;
        }
        i++;
    }
    return i;
}

/* RFC 3986 host [":" port] as the Host field carries it: a reg-name or IPv4
 * address (unreserved, sub-delims, pct-encoded), or an IP literal in
 * brackets; empty is allowed (RFC 9112 section 3.2). */
static int valid_host(const char *s)
{
    const char *p = s;
    if (*p == '[') {
        p++;
        while (*p && *p != ']') {
            unsigned char ch = (unsigned char)*p;
            if (!(hex_value(ch) >= 0 || ch == ':' || ch == '.' || ch == 'v' || ch == 'V'))
                return 0;
            p++;
        }
        if (*p != ']' || p == s + 1)
            return 0;
        p++;
    } else {
        while (*p && *p != ':') {
            unsigned char ch = (unsigned char)*p;
            if (ch == '%') {
                if (hex_value((unsigned char)p[1]) < 0 || hex_value((unsigned char)p[2]) < 0)
                    return 0;
                p += 3;
                continue;
            }
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || strchr("-._~!$&'()*+,;=", ch)))
                return 0;
            p++;
        }
    }
    if (*p == ':') {
        p++;
        if (strlen(p) > 5)
            return 0;
        for (; *p; p++)
            if (*p < '0' || *p > '9')
                return 0;
    }
    return *p == '\0';
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

const char *sitr_framing_check_head(const sitr_http_header_t *headers, int nheaders,
                                    unsigned http_major, unsigned http_minor)
{
    int te = 0, cl = 0, host = 0;
    const char *te_value = NULL, *cl_value = NULL, *host_value = NULL;
    for (int i = 0; i < nheaders; i++) {
        const char *name = headers[i].name;
        if (strcasecmp(name, "Transfer-Encoding") == 0) {
            te++;
            te_value = headers[i].value;
        } else if (strcasecmp(name, "Content-Length") == 0) {
            cl++;
            cl_value = headers[i].value;
        } else if (strcasecmp(name, "Host") == 0) {
            host++;
            host_value = headers[i].value;
        }
    }
    int http10 = http_major == 1 && http_minor == 0;
    if (te) {
        if (http10)
            return "Transfer-Encoding is not accepted in an HTTP/1.0 request";
        if (te > 1 || strcasecmp(te_value, "chunked") != 0)
            return "the only transfer coding accepted is a lone chunked";
        if (cl)
            return "Transfer-Encoding and Content-Length are not accepted together";
    }
    if (cl > 1)
        return "more than one Content-Length";
    if (cl && !all_digits(cl_value))
        return "Content-Length must be a number";
    if (host > 1)
        return "more than one Host header";
    if (!host && !http10)
        return "an HTTP/1.1 request needs a Host header";
    if (host && !valid_host(host_value))
        return "the Host header is malformed";
    return NULL;
}
