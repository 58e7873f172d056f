/* HTML output buffer and escaping (contract in html.h).
 *
 * Text is decoded as UTF-8 one code point at a time; only well-formed
 * sequences (shortest form, no surrogates, at most U+10FFFF) pass through,
 * everything else becomes U+FFFD, so the page stays valid UTF-8 whatever a
 * platform sent.  The buffer grows by doubling up to its cap.  Pure code,
 * any thread. */
#include "api/html.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

void sitr_html_init(sitr_html_t *h, size_t max)
{
    memset(h, 0, sizeof *h);
    h->max = max;
}

void sitr_html_clear(sitr_html_t *h)
{
    free(h->buf);
    size_t max = h->max;
    sitr_html_init(h, max);
}

/* Makes room for n more bytes plus a NUL; 0, or -1 after marking failed. */
static int reserve(sitr_html_t *h, size_t n)
{
    if (h->failed)
        return -1;
    if (n > h->max || h->len > h->max - n) {
        h->failed = 1;
        return -1;
    }
    size_t need = h->len + n + 1;
    if (need <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(h->buf, cap);
    if (!p) {
        h->failed = 1;
        return -1;
    }
    h->buf = p;
    h->cap = cap;
    return 0;
}

static void append(sitr_html_t *h, const char *s, size_t n)
{
    if (reserve(h, n) < 0)
        return;
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = '\0';
}

void sitr_html_raw(sitr_html_t *h, const char *s)
{
    append(h, s, strlen(s));
}

void sitr_html_rawf(sitr_html_t *h, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        h->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        append(h, small, (size_t)n);
        return;
    }
    if (reserve(h, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(h->buf + h->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h->len += (size_t)n;
}

size_t sitr_html_decode_utf8(const unsigned char *s, size_t n, long *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t len;
    long v, min;
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
        v = b & 0x1f;
        min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        v = b & 0x0f;
        min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        v = b & 0x07;
        min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    if (len > n) {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return len;
}

static int is_direction_control(long cp)
{
    return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

void sitr_html_textn(sitr_html_t *h, const char *s, size_t n)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && !h->failed) {
        /* Copy a run of plain bytes at once. */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '&' && p[run] != '<' &&
               p[run] != '>' && p[run] != '"' && p[run] != '\'')
            run++;
        if (run > i) {
            append(h, s + i, run - i);
            i = run;
            continue;
        }
        long cp;
        size_t len = sitr_html_decode_utf8(p + i, n - i, &cp);
        switch (cp) {
        case '&':
            sitr_html_raw(h, "&amp;");
            break;
        case '<':
            sitr_html_raw(h, "&lt;");
            break;
        case '>':
            sitr_html_raw(h, "&gt;");
            break;
        case '"':
            sitr_html_raw(h, "&quot;");
            break;
        case '\'':
            sitr_html_raw(h, "&#39;");
            break;
        case '\t':
        case '\n':
            append(h, s + i, 1);
            break;
        default:
            if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                sitr_html_raw(h, REPLACEMENT); /* also ill-formed input (-1) */
            else if (is_direction_control(cp))
                sitr_html_rawf(h, "[U+%04lX]", cp);
            else
                append(h, s + i, len);
        }
        i += len;
    }
}

void sitr_html_text(sitr_html_t *h, const char *s)
{
    if (s)
        sitr_html_textn(h, s, strlen(s));
}

char *sitr_html_finish(sitr_html_t *h, size_t *len)
{
    char *out = NULL;
    if (!h->failed && reserve(h, 0) == 0) {
        h->buf[h->len] = '\0'; /* an empty page has had nothing appended */
        out = h->buf;
        *len = h->len;
        h->buf = NULL;
    }
    sitr_html_clear(h);
    return out;
}
