/* Unit tests of service/html.c: escaping of the five HTML-special
 * characters, replacement of control characters and ill-formed UTF-8,
 * visible marks for direction controls, well-formed UTF-8 passed through,
 * formatted raw output longer than the small buffer, and the size cap
 * (a failed buffer stays failed and finishes as NULL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/html.h"

/* Escapes s (n bytes) and returns the result (caller frees). */
static char *escaped(const char *s, size_t n)
{
    sitr_html_t h;
    sitr_html_init(&h, 1 << 20);
    sitr_html_textn(&h, s, n);
    size_t len = 0;
    char *out = sitr_html_finish(&h, &len);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void expect(const char *in, const char *want)
{
    char *got = escaped(in, strlen(in));
    assert_string_equal(got, want);
    free(got);
}

static void test_specials(void **state)
{
    (void)state;
    expect("", "");
    expect("plain text 123", "plain text 123");
    expect("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    expect("a & b \"c\" 'd'", "a &amp; b &quot;c&quot; &#39;d&#39;");
    expect("&amp;", "&amp;amp;");
    expect("\" onmouseover=\"x", "&quot; onmouseover=&quot;x");
    expect("javascript:alert(1)", "javascript:alert(1)"); /* text, harmless as content */
}

static void test_controls(void **state)
{
    (void)state;
    expect("tab\there\nnewline", "tab\there\nnewline");
    expect("cr\rx", "cr\xef\xbf\xbdx");
    expect("bell\x07!", "bell\xef\xbf\xbd!");
    expect("del\x7f!", "del\xef\xbf\xbd!");
    expect("c1\xc2\x85!", "c1\xef\xbf\xbd!"); /* U+0085 NEL */
    /* An embedded NUL is replaced, not a terminator. */
    char *got = escaped("a\0b", 3);
    assert_string_equal(got, "a\xef\xbf\xbd"
                             "b");
    free(got);
}

static void test_utf8(void **state)
{
    (void)state;
    expect("caf\xc3\xa9 \xd8\xb3\xd9\x90\xd8\xaa\xd8\xb1 \xf0\x9f\x98\x80",
           "caf\xc3\xa9 \xd8\xb3\xd9\x90\xd8\xaa\xd8\xb1 \xf0\x9f\x98\x80");
    expect("bad \xff!", "bad \xef\xbf\xbd!");
    expect("lone \x80!", "lone \xef\xbf\xbd!");
    expect("overlong \xc0\xbc!", "overlong \xef\xbf\xbd\xef\xbf\xbd!"); /* an encoded '<' */
    expect("overlong3 \xe0\x80\xbc", "overlong3 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect("surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect("too big \xf4\x90\x80\x80", "too big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect("cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd");
}

static void test_direction_controls(void **state)
{
    (void)state;
    expect("photo\xe2\x80\xaegnp.exe", "photo[U+202E]gnp.exe");             /* RLO */
    expect("\xe2\x81\xa6x\xe2\x81\xa9", "[U+2066]x[U+2069]");               /* LRI, PDI */
    expect("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "[U+200E][U+200F][U+061C]"); /* LRM RLM ALM */
    /* Neighbours of the ranges pass through. */
    expect("\xe2\x80\xaf\xe2\x81\xa5", "\xe2\x80\xaf\xe2\x81\xa5");
}

static void test_raw_and_cap(void **state)
{
    (void)state;
    sitr_html_t h;
    sitr_html_init(&h, 1 << 20);
    sitr_html_raw(&h, "<p>");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sitr_html_rawf(&h, "%s|%d", big, 42);
    sitr_html_text(&h, NULL);
    sitr_html_raw(&h, "</p>");
    size_t len;
    char *out = sitr_html_finish(&h, &len);
    assert_non_null(out);
    assert_int_equal(len, 3 + 599 + 3 + 4);
    assert_memory_equal(out + 3 + 599, "|42</p>", 8);
    free(out);

    /* At most 10 bytes: the 11th fails the buffer for good. */
    sitr_html_init(&h, 10);
    sitr_html_raw(&h, "0123456789");
    assert_int_equal(h.failed, 0);
    sitr_html_text(&h, "<");
    assert_int_equal(h.failed, 1);
    sitr_html_raw(&h, "");
    assert_null(sitr_html_finish(&h, &len));
    /* An escape that would cross the cap fails too, and clear is safe twice. */
    sitr_html_init(&h, 4);
    sitr_html_text(&h, "&");
    assert_int_equal(h.failed, 1);
    sitr_html_clear(&h);
    sitr_html_clear(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),    cmocka_unit_test(test_controls),
        cmocka_unit_test(test_utf8),        cmocka_unit_test(test_direction_controls),
        cmocka_unit_test(test_raw_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
