/* Unit tests of the `sitr` command's helpers that need no image decoder:
 * the folder walk (order, path joining, hidden entries, symlink loops,
 * missing paths) and the output formats (text, CSV quoting, JSONL
 * escaping, error objects, UTF-8 repair), and the language machinery
 * (which language the environment asks for, placeholders, control
 * characters in values).  Each test builds its own file tree under a fresh
 * temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"
#include "output.h"
#include "walk.h"

static char tmpdir[256];

static void mkfile(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void mkdir_rel(const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void symlink_rel(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/sitr-cli-units-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Path of entry i relative to tmpdir (the walk prints the argument joined
 * with the inner path, and the argument here is tmpdir + suffix). */
static const char *rel(const sitr_walk_list_t *l, size_t i)
{
    size_t n = strlen(tmpdir);
    assert_true(l->n > i);
    assert_memory_equal(l->v[i].path, tmpdir, n);
    return l->v[i].path + n;
}

static void test_join(void **state)
{
    (void)state;
    char *p = sitr_walk_join("a", "b.jpg");
    assert_string_equal(p, "a/b.jpg");
    free(p);
    p = sitr_walk_join("a/", "b.jpg");
    assert_string_equal(p, "a/b.jpg");
    free(p);
    p = sitr_walk_join("/", "x");
    assert_string_equal(p, "/x");
    free(p);
    p = sitr_walk_join("a//", "x");
    assert_string_equal(p, "a//x");
    free(p);
}

static void test_walk_order_and_hidden(void **state)
{
    (void)state;
    mkfile("z.jpg", "z");
    mkfile("B.jpg", "B");
    mkfile("a.jpg", "a");
    mkfile(".DS_Store", "x");
    mkdir_rel("m");
    mkfile("m/2.png", "2");
    mkfile("m/10.png", "10");
    mkdir_rel("m/sub");
    mkfile("m/sub/x.gif", "x");
    mkdir_rel("m/empty");
    mkdir_rel(".hidden");
    mkfile(".hidden/secret.jpg", "s");
    char fifo[512];
    snprintf(fifo, sizeof(fifo), "%s/m/pipe", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    sitr_walk_list_t l = {0};
    assert_int_equal(sitr_walk_add(&l, tmpdir), 0);
    const char *want[] = {"/B.jpg", "/a.jpg", "/m/10.png", "/m/2.png", "/m/sub/x.gif", "/z.jpg"};
    assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(rel(&l, i), want[i]);
        assert_int_equal(l.v[i].err, 0);
        assert_null(l.v[i].msg);
    }
    sitr_walk_list_free(&l);
    assert_int_equal(l.n, 0);

    /* A trailing slash on the argument is kept and no second one added;
     * a hidden folder named explicitly is walked. */
    char arg[512];
    snprintf(arg, sizeof(arg), "%s/m/", tmpdir);
    assert_int_equal(sitr_walk_add(&l, arg), 0);
    snprintf(arg, sizeof(arg), "%s/.hidden", tmpdir);
    assert_int_equal(sitr_walk_add(&l, arg), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(rel(&l, 0), "/m/10.png");
    assert_string_equal(rel(&l, 2), "/m/sub/x.gif");
    assert_string_equal(rel(&l, 3), "/.hidden/secret.jpg");
    sitr_walk_list_free(&l);
}

static void test_walk_files_and_errors(void **state)
{
    (void)state;
    mkfile("one.jpg", "1");
    mkdir_rel("d");
    mkfile("d/a.jpg", "a");
    symlink_rel("..", "d/up");            /* loop: back to the top */
    symlink_rel("../one.jpg", "d/b.jpg"); /* symlink to a file: followed */
    symlink_rel("nowhere", "d/c.jpg");    /* dangling */
    symlink_rel("self", "d/self");        /* loops on itself */

    sitr_walk_list_t l = {0};
    char arg[512];
    snprintf(arg, sizeof(arg), "%s/one.jpg", tmpdir);
    assert_int_equal(sitr_walk_add(&l, arg), 0);
    snprintf(arg, sizeof(arg), "%s/missing.jpg", tmpdir);
    assert_int_equal(sitr_walk_add(&l, arg), 0);
    assert_int_equal(sitr_walk_add(&l, tmpdir), 0);
    assert_int_equal(sitr_walk_add(&l, "/dev/null"), 0);

    assert_int_equal(l.n, 9);
    assert_string_equal(rel(&l, 0), "/one.jpg");
    assert_int_equal(l.v[0].err, 0);
    assert_string_equal(rel(&l, 1), "/missing.jpg");
    assert_int_equal(l.v[1].err, SITR_ENOENT);
    assert_non_null(strstr(l.v[1].msg, "No such file"));
    assert_string_equal(rel(&l, 2), "/d/a.jpg");
    assert_string_equal(rel(&l, 3), "/d/b.jpg");
    assert_int_equal(l.v[3].err, 0);
    assert_string_equal(rel(&l, 4), "/d/c.jpg");
    assert_int_equal(l.v[4].err, SITR_ENOENT);
    assert_string_equal(rel(&l, 5), "/d/self");
    assert_int_equal(l.v[5].err, SITR_ELOOP);
    assert_string_equal(rel(&l, 6), "/d/up");
    assert_int_equal(l.v[6].err, SITR_ELOOP);
    assert_non_null(strstr(l.v[6].msg, "loop"));
    assert_string_equal(rel(&l, 7), "/one.jpg");
    assert_string_equal(l.v[8].path, "/dev/null");
    assert_int_equal(l.v[8].err, SITR_EINVAL);
    sitr_walk_list_free(&l);
}

static sitr_image_t fake_image(void)
{
    sitr_image_t img;
    memset(&img, 0, sizeof(img));
    for (int i = 0; i < SITR_PDQ_BYTES; i++)
        img.pdq.hash.b[i] = (uint8_t)i;
    for (int d = 0; d < SITR_PDQ_DIHEDRAL_COUNT; d++)
        for (int i = 0; i < SITR_PDQ_BYTES; i++)
            img.pdq.dihedral[d].b[i] = (uint8_t)(d * 16 + (i & 15));
    img.pdq.dihedral[0] = img.pdq.hash;
    img.pdq.quality = 87;
    for (int i = 0; i < SITR_MD5_BYTES; i++)
        img.md5[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < SITR_SHA256_BYTES; i++)
        img.sha256[i] = (uint8_t)(0xff - i);
    return img;
}

#define HASH0 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define MD5   "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define SHA   "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0"
/* Dihedral hash d of fake_image(): bytes 0xd0..0xdf twice. */
#define DIH16(d)                                                                                   \
    d "0" d "1" d "2" d "3" d "4" d "5" d "6" d "7" d "8" d "9" d "a" d "b" d "c" d "d" d "e" d "f"
#define DIH(d) DIH16(d) DIH16(d)

/* Runs fn against an in-memory stream and returns what it wrote. */
static char *capture(sitr_output_format_t fmt, int dihedral, const char *path, int error)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sitr_output_t o = {.f = f, .format = fmt, .dihedral = dihedral};
    sitr_image_t img = fake_image();
    assert_int_equal(sitr_output_begin(&o), 0);
    if (error)
        assert_int_equal(sitr_output_error(&o, path, SITR_ECORRUPT, "truncated \"JPEG\""), 0);
    else
        assert_int_equal(sitr_output_result(&o, path, &img), 0);
    fclose(f);
    return buf;
}

static void test_output_text(void **state)
{
    (void)state;
    char *s = capture(SITR_OUTPUT_TEXT, 0, "dir/a,b.jpg", 0);
    assert_string_equal(s, HASH0 ",87,dir/a,b.jpg\n");
    free(s);
    s = capture(SITR_OUTPUT_TEXT, 1, "x.jpg", 0);
    assert_string_equal(s, HASH0 "," DIH("1") "," DIH("2") "," DIH("3") "," DIH("4") "," DIH(
                               "5") "," DIH("6") "," DIH("7") ",87,x.jpg\n");
    free(s);
    /* Errors have no place in text or CSV output: stderr only. */
    s = capture(SITR_OUTPUT_TEXT, 0, "bad.jpg", 1);
    assert_string_equal(s, "");
    free(s);
    s = capture(SITR_OUTPUT_CSV, 0, "bad.jpg", 1);
    assert_string_equal(s, "path,pdq,quality,md5,sha256\n");
    free(s);
}

/* A line break in a path would let a file name forge a record of the
 * line-based text format ("<hash>,<quality>,<path>"): such a path is refused
 * with nothing written, while CSV and JSONL quote it. */
static void test_output_text_line_break(void **state)
{
    (void)state;
    const char *forged = "x.jpg\n" HASH0 ",100,evil.jpg";
    const char *paths[] = {forged, "a\rb.jpg"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        sitr_output_t o = {.f = f, .format = SITR_OUTPUT_TEXT};
        sitr_image_t img = fake_image();
        assert_int_equal(sitr_output_result(&o, paths[i], &img), SITR_EINVAL);
        fclose(f);
        assert_string_equal(buf, "");
        free(buf);
    }
}

static void test_output_csv(void **state)
{
    (void)state;
    char *s = capture(SITR_OUTPUT_CSV, 0, "plain.jpg", 0);
    assert_string_equal(s, "path,pdq,quality,md5,sha256\nplain.jpg," HASH0 ",87," MD5 "," SHA "\n");
    free(s);
    s = capture(SITR_OUTPUT_CSV, 0, "we \"said\", hi\n.jpg", 0);
    assert_string_equal(s, "path,pdq,quality,md5,sha256\n\"we \"\"said\"\", hi\n.jpg\"," HASH0
                           ",87," MD5 "," SHA "\n");
    free(s);
    s = capture(SITR_OUTPUT_CSV, 1, "p.jpg", 0);
    assert_string_equal(s, "path,pdq,quality,md5,sha256,orig,rot90,rot180,rot270,flipx,flipy,"
                           "flipplus1,flipminus1\np.jpg," HASH0 ",87," MD5 "," SHA "," HASH0
                           "," DIH("1") "," DIH("2") "," DIH("3") "," DIH("4") "," DIH("5") "," DIH(
                               "6") "," DIH("7") "\n");
    free(s);
}

static void test_output_jsonl(void **state)
{
    (void)state;
    const char *path = "d\xc3\xa9j\xc3\xa0/\"q\"\\\t\xff.jpg";
    char *s = capture(SITR_OUTPUT_JSONL, 0, path, 0);
    size_t n = strlen(s);
    assert_true(n > 0 && s[n - 1] == '\n');
    assert_null(memchr(s, '\n', n - 1)); /* one line */
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    /* The invalid byte 0xff became U+FFFD; everything else survived. */
    assert_string_equal(json_string_value(json_object_get(o, "path")),
                        "d\xc3\xa9j\xc3\xa0/\"q\"\\\t\xef\xbf\xbd.jpg");
    assert_string_equal(json_string_value(json_object_get(o, "pdq")), HASH0);
    assert_int_equal(json_integer_value(json_object_get(o, "quality")), 87);
    assert_string_equal(json_string_value(json_object_get(o, "md5")), MD5);
    assert_string_equal(json_string_value(json_object_get(o, "sha256")), SHA);
    json_t *d = json_object_get(o, "dihedral");
    assert_int_equal(json_array_size(d), 8);
    assert_string_equal(json_string_value(json_array_get(d, 0)), HASH0);
    assert_string_equal(json_string_value(json_array_get(d, 7)), DIH("7"));
    assert_null(json_object_get(o, "error"));
    json_decref(o);
    /* Keys in the documented order. */
    assert_true(strstr(s, "\"path\"") < strstr(s, "\"pdq\""));
    assert_true(strstr(s, "\"dihedral\"") < strstr(s, "\"md5\""));
    free(s);

    s = capture(SITR_OUTPUT_JSONL, 0, "bad.jpg", 1);
    o = json_loads(s, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "path")), "bad.jpg");
    json_t *e = json_object_get(o, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "corrupt");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "truncated \"JPEG\"");
    assert_null(json_object_get(o, "pdq"));
    json_decref(o);
    free(s);
}

static void test_formats_and_names(void **state)
{
    (void)state;
    sitr_output_format_t f;
    assert_int_equal(sitr_output_parse_format("csv", &f), 0);
    assert_int_equal(f, SITR_OUTPUT_CSV);
    assert_int_equal(sitr_output_parse_format("jsonl", &f), 0);
    assert_int_equal(f, SITR_OUTPUT_JSONL);
    assert_int_equal(sitr_output_parse_format("text", &f), 0);
    assert_int_equal(f, SITR_OUTPUT_TEXT);
    assert_int_equal(sitr_output_parse_format("json", &f), SITR_EINVAL);
    assert_int_equal(sitr_output_parse_format("CSV", &f), SITR_EINVAL);
    assert_string_equal(sitr_output_code_name(SITR_ENOMEM), "nomem");
    assert_string_equal(sitr_output_code_name(SITR_ELOOP), "loop");
    assert_string_equal(sitr_output_code_name(SITR_EINTERNAL), "internal");
    assert_string_equal(sitr_output_code_name(0), "unknown");
    assert_string_equal(sitr_output_code_name(-1000), "unknown");
}

static void test_utf8_sanitize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"\xe2\x82\xac \xf0\x9f\x98\x80",
         "\xe2\x82\xac \xf0\x9f\x98\x80"},                        /* valid 3 and 4 bytes */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
        {"a\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd"},                               /* truncated */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = sitr_output_utf8_sanitize(cases[i].in);
        assert_string_equal(s, cases[i].out);
        free(s);
    }
}

/* gettext's order: LANGUAGE (unless the locale is C or POSIX), then the
 * first of LC_ALL, LC_MESSAGES, LANG; a language we lack is passed over. */
static void test_i18n_pick(void **state)
{
    (void)state;
    assert_int_equal(sitr_i18n_pick(NULL, NULL, NULL, NULL), SITR_LANG_EN);
    assert_int_equal(sitr_i18n_pick(NULL, NULL, NULL, "ar_MA.UTF-8"), SITR_LANG_AR);
    assert_int_equal(sitr_i18n_pick(NULL, NULL, NULL, "fr_FR@euro"), SITR_LANG_FR);
    assert_int_equal(sitr_i18n_pick(NULL, NULL, "fr_BE.UTF-8", "ar_MA.UTF-8"), SITR_LANG_FR);
    assert_int_equal(sitr_i18n_pick(NULL, "ar", "fr_BE.UTF-8", "en_US.UTF-8"), SITR_LANG_AR);
    assert_int_equal(sitr_i18n_pick(NULL, "", "", "fr"), SITR_LANG_FR);
    assert_int_equal(sitr_i18n_pick("de:fr:ar", NULL, NULL, "en_GB.UTF-8"), SITR_LANG_FR);
    assert_int_equal(sitr_i18n_pick("ar_TN", NULL, NULL, "C.UTF-8"), SITR_LANG_AR);
    assert_int_equal(sitr_i18n_pick("fr", "C", NULL, NULL), SITR_LANG_EN);
    assert_int_equal(sitr_i18n_pick("fr", NULL, NULL, "POSIX"), SITR_LANG_EN);
    assert_int_equal(sitr_i18n_pick("fr", NULL, NULL, NULL), SITR_LANG_EN);
    assert_int_equal(sitr_i18n_pick(NULL, NULL, NULL, "de_DE.UTF-8"), SITR_LANG_EN);
    assert_int_equal(sitr_i18n_pick(NULL, NULL, NULL, "fra_FR"), SITR_LANG_EN);
    sitr_lang_t l;
    assert_int_equal(sitr_i18n_parse("AR", &l), 0);
    assert_int_equal(l, SITR_LANG_AR);
    assert_int_equal(sitr_i18n_parse("ar_MA", &l), -1);
    assert_int_equal(sitr_i18n_parse(NULL, &l), -1);
}

/* Placeholders are filled by name in each language; a value's control
 * characters (C0, DEL and C1 as UTF-8) never reach the terminal; an
 * unknown placeholder stays as written. */
static void test_i18n_fill(void **state)
{
    (void)state;
    char out[512];
    sitr_i18n_set(SITR_LANG_FR);
    sitr_tr_snprintf(out, sizeof out, SITR_TX_CLI_WITHDRAW_CONFIRM, "case", "SITR-X", "word",
                     sitr_tr(SITR_TX_CLI_WITHDRAW_WORD), NULL);
    assert_string_equal(out, "Pour retirer maintenant le dossier SITR-X, tapez retirer : ");
    sitr_i18n_set(SITR_LANG_AR);
    assert_string_equal(sitr_i18n_code(), "ar");
    sitr_tr_snprintf(out, sizeof out, SITR_TX_CLI_STATUS_TITLE, "case",
                     "a\x1b[31m\xc2\x9b"
                     "b",
                     NULL);
    assert_string_equal(out, "الملف a?[31m?b");
    sitr_i18n_set(SITR_LANG_EN);
    sitr_tr_snprintf(out, sizeof out, SITR_TX_CLI_STATUS_TITLE, NULL);
    assert_string_equal(out, "Case {case}");
    /* Truncated, always terminated; the wanted length is returned. */
    size_t want = sitr_tr_snprintf(out, 6, SITR_TX_CLI_STATUS_TITLE, "case", "SITR-1", NULL);
    assert_int_equal(want, strlen("Case SITR-1"));
    assert_string_equal(out, "Case ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join),
        cmocka_unit_test_setup_teardown(test_walk_order_and_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walk_files_and_errors, setup, teardown),
        cmocka_unit_test(test_output_text),
        cmocka_unit_test(test_output_text_line_break),
        cmocka_unit_test(test_output_csv),
        cmocka_unit_test(test_output_jsonl),
        cmocka_unit_test(test_formats_and_names),
        cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test(test_i18n_pick),
        cmocka_unit_test(test_i18n_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
