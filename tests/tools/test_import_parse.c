/* The line parsers of `sitr-admin import` (tools/admin/import_parse.c):
 * each format's accepted lines give the exact bytes, and every refusal
 * names its reason; the quality rules are those of /v1/cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "import_parse.h"

#define P1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define P2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define P3 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define M1 "d41d8cd98f00b204e9800998ecf8427e"
#define S1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char reason[IMPORT_REASON_MAX];

static int parse(import_parser_t *p, const char *line, import_row_t *r)
{
    return import_parse_line(p, line, strlen(line), r, reason);
}

/* Asserts that line is refused with a reason containing want. */
static void refused(import_parser_t *p, const char *line, const char *want)
{
    import_row_t r;
    int k = parse(p, line, &r);
    if (k != IMPORT_REFUSED || !strstr(reason, want))
        fail_msg("'%s': got %d '%s', want refused '%s'", line, k, reason, want);
}

static void assert_hex(const uint8_t *b, size_t n, const char *hex)
{
    uint8_t want[32];
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        want[i] = (uint8_t)v;
    }
    assert_memory_equal(b, want, n);
}

static void test_csv(void **state)
{
    (void)state;
    import_parser_t p;
    import_row_t r;
    import_parser_init(&p, IMPORT_FMT_CSV, 0);
    assert_int_equal(parse(&p, "\xef\xbb\xbfpdq, quality ,md5,sha256\r", &r), IMPORT_SKIP);
    assert_int_equal(parse(&p, P1 ",90," M1 "," S1 "\r", &r), IMPORT_ROW);
    assert_true(r.has_pdq && r.has_md5 && r.has_sha);
    assert_int_equal(r.quality, 90);
    assert_hex(r.pdq, 32, P1);
    assert_hex(r.md5, 16, M1);
    assert_hex(r.sha256, 32, S1);
    /* Upper case hex, empty columns, quoted fields, blank lines. */
    assert_int_equal(parse(&p,
                           "\"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\","
                           "50,,",
                           &r),
                     IMPORT_ROW);
    assert_true(r.has_pdq && !r.has_md5 && !r.has_sha);
    assert_int_equal(r.quality, 50);
    assert_int_equal(parse(&p, "  ", &r), IMPORT_SKIP);
    assert_int_equal(parse(&p, ",," M1 ",", &r), IMPORT_ROW);
    assert_true(!r.has_pdq && r.has_md5);
    /* Quality below 50: the PDQ is dropped when a digest stays, as
     * /v1/cases does; refused otherwise. */
    assert_int_equal(parse(&p, P1 ",49," M1 ",", &r), IMPORT_ROW);
    assert_true(!r.has_pdq && r.has_md5 && r.pdq_dropped);
    refused(&p, P1 ",49,,", "below 50");
    refused(&p, P1 ",,,", "needs its quality");
    refused(&p, ",90," M1 ",", "quality without a PDQ");
    refused(&p, ",,,", "no hash");
    refused(&p, P1 "0,90,,", "pdq is not 64 hex digits");
    refused(&p, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg,90,,",
            "pdq is not 64 hex digits");
    refused(&p, P1 ",90," M1 "00,", "md5 is not 32 hex digits");
    refused(&p, P1 ",90,," S1 "0", "sha256 is not 64 hex digits");
    refused(&p, P1 ",101,,", "quality is not");
    refused(&p, P1 ",-1,,", "quality is not");
    refused(&p, P1 ",9x,,", "quality is not");
    refused(&p, P1 ",90,", "3 columns where the header has 4");
    refused(&p, P1 ",90,,,", "5 columns where the header has 4");
    refused(&p, "\"" P1 ",90,,", "not closed");
    refused(&p, "\"" P1 "\"x,90,,", "after a closing quote");
    char nul[] = P1 ",90,,";
    nul[3] = '\0';
    assert_int_equal(import_parse_line(&p, nul, sizeof nul - 1, &r, reason), IMPORT_REFUSED);
    assert_non_null(strstr(reason, "NUL"));
    static char big[IMPORT_LINE_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    refused(&p, big, "longer than");
}

static void test_csv_headers(void **state)
{
    (void)state;
    import_parser_t p;
    import_row_t r;
    const char *bad[][2] = {
        {"pdq,md5", "pdq without quality"},
        {"quality,path", "no hash column"},
        {"pdq,quality,sha265", "unknown column 'sha265'"},
        {"md5,md5", "appears twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        import_parser_init(&p, IMPORT_FMT_CSV, 0);
        int k = parse(&p, bad[i][0], &r);
        if (k != IMPORT_BAD_FILE || !strstr(reason, bad[i][1]))
            fail_msg("header '%s': %d '%s'", bad[i][0], k, reason);
    }
    /* `sitr hash --format csv --dihedral` as it is: path ignored, orig
     * equal to pdq collapses, the other variants kept, a video frame row
     * refused. */
    import_parser_init(&p, IMPORT_FMT_CSV, 0);
    assert_int_equal(parse(&p,
                           "path,pdq,quality,md5,sha256,orig,rot90,rot180,rot270,flipx,flipy,"
                           "flipplus1,flipminus1,frame,timestamp",
                           &r),
                     IMPORT_SKIP);
    assert_int_equal(parse(&p,
                           "\"a,b.jpg\"," P1 ",80," M1 "," S1 "," P1 "," P2 "," P3 "," P2 "," P2
                           "," P2 "," P2 "," P2 ",,",
                           &r),
                     IMPORT_ROW);
    assert_int_equal(r.nvariants, 2);
    assert_hex(r.variants[0], 32, P2);
    assert_hex(r.variants[1], 32, P3);
    refused(&p, "v.mp4," P1 ",80," M1 "," S1 ",,,,,,,,,3,1.5", "videos are not imported");
    assert_int_equal(import_format_detect("path,pdq,quality,md5,sha256"), IMPORT_FMT_CSV);
    assert_int_equal(import_format_detect("hello,world"), IMPORT_FMT_AUTO);
}

static void test_jsonl(void **state)
{
    (void)state;
    import_parser_t p;
    import_row_t r;
    import_parser_init(&p, IMPORT_FMT_JSONL, 0);
    const char *line = "{\"type\":\"image\",\"path\":\"x.jpg\",\"pdq\":\"" P1 "\",\"quality\":77,"
                       "\"dihedral\":[\"" P1 "\",\"" P2 "\",\"" P2 "\",\"" P3 "\"],\"md5\":\"" M1
                       "\",\"sha256\":\"" S1 "\"}";
    assert_int_equal(import_format_detect(line), IMPORT_FMT_JSONL);
    assert_int_equal(parse(&p, line, &r), IMPORT_ROW);
    assert_int_equal(r.quality, 77);
    assert_int_equal(r.nvariants, 2);
    assert_hex(r.pdq, 32, P1);
    assert_hex(r.variants[1], 32, P3);
    assert_hex(r.sha256, 32, S1);
    refused(&p, "{\"path\":\"x.jpg\",\"error\":{\"code\":\"decode\",\"message\":\"m\"}}",
            "could not hash this file (decode)");
    refused(&p, "{\"type\":\"video\",\"path\":\"v.mp4\",\"md5\":\"" M1 "\"}",
            "videos are not imported");
    refused(&p, "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"quality\":\"90\"}", "quality is not");
    refused(&p, "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"quality\":90,\"extra\":1}",
            "unknown member 'extra'");
    refused(&p, "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"pdq\":\"" P2 "\",\"quality\":90}",
            "not JSON");
    refused(&p, "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"quality\":90", "not JSON");
    refused(&p, "[1,2]", "not a JSON object");
    refused(&p, "{\"type\":\"image\",\"pdq\":12,\"quality\":90}", "pdq is not a string");
    refused(&p, "{\"type\":\"image\",\"md5\":\"" M1 "\",\"dihedral\":[\"" P2 "\"]}",
            "dihedral variants without a PDQ");
    refused(&p, "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"x\"]}",
            "dihedral PDQ is not 64 hex digits");
    refused(&p,
            "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"quality\":90,\"dihedral\":[\"" P2 "\",\"" P2
            "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\",\"" P2 "\"]}",
            "at most 8");
    refused(&p, "{\"type\":\"image\",\"pdq\":\"" P1 "\",\"quality\":30}", "below 50");
}

static void test_hma(void **state)
{
    (void)state;
    import_parser_t p;
    import_row_t r;
    const char *content =
        "{\"id\":12,\"disable_until_ts\":0,\"collab_metadata\":{},"
        "\"original_media_uri\":null,\"bank\":{\"name\":\"B\","
        "\"matching_enabled_ratio\":1.0},\"signals\":{\"pdq\":\"" P1 "\",\"md5\":\"" M1 "\"}}";
    assert_int_equal(import_format_detect(content), IMPORT_FMT_HMA);
    import_parser_init(&p, IMPORT_FMT_HMA, 0);
    /* No quality in HMA: a PDQ needs the operator's --pdq-quality. */
    refused(&p, content, "--pdq-quality");
    assert_int_equal(parse(&p, "{\"md5\":\"" M1 "\"}", &r), IMPORT_ROW);
    assert_true(r.has_md5 && !r.has_pdq);
    import_parser_init(&p, IMPORT_FMT_HMA, 70);
    assert_int_equal(parse(&p, content, &r), IMPORT_ROW);
    assert_int_equal(r.quality, 70);
    assert_hex(r.pdq, 32, P1);
    assert_hex(r.md5, 16, M1);
    assert_int_equal(parse(&p, "{\"pdq\":\"" P2 "\"}", &r), IMPORT_ROW);
    refused(&p, "{\"signals\":{\"video_md5\":\"" M1 "\"}}", "signal type 'video_md5'");
    refused(&p, "{\"id\":12,\"bank\":{\"name\":\"B\"}}", "include_signals=true");
    refused(&p, "{\"signals\":[]}", "signals is not an object");
    refused(&p, "{\"signals\":{}}", "no hash");
}

static void test_te(void **state)
{
    (void)state;
    import_parser_t p;
    import_row_t r;
    const char *header = "td_description\ttd_indicator_type\ttd_raw_indicator\ttd_subjective_tags";
    assert_int_equal(import_format_detect(header), IMPORT_FMT_TE);
    import_parser_init(&p, IMPORT_FMT_TE, 0);
    assert_int_equal(parse(&p, header, &r), IMPORT_SKIP);
    assert_int_equal(parse(&p, "d\tHASH_MD5\t" M1 "\tt1", &r), IMPORT_ROW);
    assert_true(r.has_md5 && !r.has_pdq && !r.has_sha);
    assert_int_equal(parse(&p, "d\thash_sha256\t" S1 "\t", &r), IMPORT_ROW);
    assert_true(r.has_sha);
    refused(&p, "d\tHASH_PDQ\t" P1 "\t", "--pdq-quality");
    refused(&p, "d\tHASH_SHA1\tdabbad00f00dfeed5ca1ab1ebeefca11ab1ec10f\t", "'HASH_SHA1'");
    refused(&p, "d\tHASH_MD5\t" M1, "3 columns where the header has 4");
    refused(&p, "d\tHASH_MD5\tzz\t", "the MD5 is not 32 hex digits");
    import_parser_init(&p, IMPORT_FMT_TE, 60);
    assert_int_equal(parse(&p, header, &r), IMPORT_SKIP);
    assert_int_equal(parse(&p, "d\tHASH_PDQ\t" P1 "\t", &r), IMPORT_ROW);
    assert_int_equal(r.quality, 60);
    import_parser_init(&p, IMPORT_FMT_TE, 0);
    assert_int_equal(parse(&p, "td_raw_indicator\tx", &r), IMPORT_BAD_FILE);
    assert_non_null(strstr(reason, "td_indicator_type"));
}

static void test_formats(void **state)
{
    (void)state;
    import_format_t f;
    assert_int_equal(import_format_parse("te", &f), 0);
    assert_int_equal(f, IMPORT_FMT_TE);
    assert_string_equal(import_format_name(IMPORT_FMT_HMA), "hma");
    assert_int_equal(import_format_parse("xml", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),   cmocka_unit_test(test_csv_headers),
        cmocka_unit_test(test_jsonl), cmocka_unit_test(test_hma),
        cmocka_unit_test(test_te),    cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
