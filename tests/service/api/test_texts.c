/* The texts catalogue (service/web/texts.json), the one file translators
 * edit for the web page and the evidence report: every language has every
 * key, no text is empty, a text's {placeholders} are the same in every
 * language, the report accepts the catalogue, and a catalogue missing one
 * report word in one language is refused at start-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/report_page.h"

static const char *const langs[] = {"en", "fr", "ar"};

static json_t *load_catalogue(void)
{
    json_error_t err;
    json_t *j = json_load_file(SITR_SOURCE_DIR "/service/web/texts.json", 0, &err);
    if (!j)
        fail_msg("texts.json line %d: %s", err.line, err.text);
    assert_true(json_is_object(j));
    return j;
}

/* The {name} placeholders of s, sorted and joined, into out. */
static void placeholders(const char *s, char *out, size_t cap)
{
    char names[32][32];
    int n = 0;
    for (const char *p = strchr(s, '{'); p && n < 32; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end || (size_t)(end - p) >= sizeof names[0])
            continue;
        snprintf(names[n++], sizeof names[0], "%.*s", (int)(end - p - 1), p + 1);
    }
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        strncat(out, names[i], cap - strlen(out) - 1);
        strncat(out, ",", cap - strlen(out) - 1);
    }
}

static void test_every_language_has_every_text(void **state)
{
    (void)state;
    json_t *cat = load_catalogue();
    /* The three languages, and "error_codes": the server's error codes
     * mapped to the keys of the page's texts (tests/web/error_texts.mjs
     * checks them against docs/openapi.yaml); each names a text. */
    assert_int_equal(json_object_size(cat), 4);
    const json_t *en = json_object_get(cat, "en");
    const json_t *codes = json_object_get(cat, "error_codes");
    assert_true(json_is_object(codes));
    const char *code;
    const json_t *to;
    json_object_foreach((json_t *)codes, code, to)
    {
        if (!json_object_get(en, json_string_value(to)))
            fail_msg("texts.json: error_codes.%s names no text", code);
    }
    for (size_t l = 0; l < 3; l++) {
        const json_t *table = json_object_get(cat, langs[l]);
        assert_true(json_is_object(table));
        assert_int_equal(json_object_size(table), json_object_size(en));
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)en, key, v)
        {
            const char *here = json_string_value(json_object_get(table, key));
            if (!here || !*here)
                fail_msg("texts.json: \"%s\" has no text for \"%s\"", langs[l], key);
            char want[512], got[512];
            placeholders(json_string_value(v), want, sizeof want);
            placeholders(here, got, sizeof got);
            if (strcmp(want, got) != 0)
                fail_msg("texts.json: \"%s\".\"%s\" has placeholders {%s}, English {%s}", langs[l],
                         key, got, want);
        }
    }
    json_decref(cat);
}

static void test_report_reads_the_catalogue(void **state)
{
    (void)state;
    json_t *cat = load_catalogue();
    char *text = json_dumps(cat, JSON_COMPACT);
    sitr_err_t err = {0};
    assert_int_equal(sitr_report_page_texts(text, strlen(text), &err), 0);
    free(text);

    /* One report word missing in French: refused, and the message says so. */
    json_object_del(json_object_get(cat, "fr"), "evidence_footer");
    text = json_dumps(cat, JSON_COMPACT);
    assert_int_equal(sitr_report_page_texts(text, strlen(text), &err), SITR_ECONFIG);
    assert_non_null(strstr(err.msg, "\"fr\" has no \"evidence_footer\""));
    free(text);
    assert_int_equal(sitr_report_page_texts("[]", 2, &err), SITR_ECONFIG);
    sitr_report_page_free_texts();
    json_decref(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_language_has_every_text),
        cmocka_unit_test(test_report_reads_the_catalogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
