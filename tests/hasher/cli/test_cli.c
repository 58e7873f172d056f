/* End-to-end tests of the `sitr` command: runs the built binary with
 * posix_spawn on the vendored PDQ corpus (tests/data/pdq; the bridge-mods
 * folder also on the extended corpus when present) and checks what it prints against
 * Meta's reference values (expected.csv, expected-dihedral.csv), digests
 * from md5sum/sha256sum, the folder order and path joining, error
 * handling in the middle of a batch, and the exit status of usage errors.
 * Each test that needs files builds them in a fresh temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "pdq_data.h"

#define SITR_BIN SITR_BINARY_DIR "/hasher/cli/sitr"
#define PDQ_DIR  SITR_SOURCE_DIR "/tests/data/pdq"
#define BRIDGE   PDQ_DIR "/bridge-mods"

/* md5sum / sha256sum of two corpus files, taken once by hand. */
#define ORIG_MD5  "d35c785545392755e7e4164457657269"
#define ORIG_SHA  "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298"
#define SQ128_MD5 "9c3fc8330b331988d0bb3c90fbba479a"
#define SQ128_SHA "9428e7578052968561f8e6f4a1114f1eaed57d659e7dd03be70d4ece371bbc15"

/* At most this many files in a corpus's bridge-mods (12 in the extended
 * corpus). */
#define MAX_BRIDGE 12

typedef struct run {
    int status; /* exit status, or -1 if killed by a signal */
    char *out, *err;
} run_t;

static char tmpdir[256];

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs `sitr args...` (args NULL-terminated) with stdout and stderr sent to
 * files, so large outputs cannot deadlock a pipe. */
static run_t run_sitr(const char *const *args)
{
    char outp[300], errp[300];
    snprintf(outp, sizeof(outp), "%s/.stdout", tmpdir);
    snprintf(errp, sizeof(errp), "%s/.stderr", tmpdir);
    const char *argv[64];
    size_t n = 0;
    argv[n++] = SITR_BIN;
    for (; args[n - 1] != NULL; n++) {
        assert_true(n < 63);
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int e = posix_spawn(&pid, SITR_BIN, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(e, 0);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    run_t r = {.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1};
    r.out = read_all(outp);
    r.err = read_all(errp);
    return r;
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/sitr-cli-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Looks up column col (0-based) of the row of the reference CSV of the
 * corpus in dir whose first field is rel.  Returns a static copy. */
static const char *csv_value_in(const char *dir, const char *csvname, const char *rel, int col)
{
    static char val[128];
    char path[1200], line[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, csvname);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t rl = strlen(rel);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, rel, rl) != 0 || line[rl] != ',')
            continue;
        char *p = line;
        for (int i = 0; i < col; i++) {
            p = strchr(p, ',');
            assert_non_null(p);
            p++;
        }
        size_t n = strcspn(p, ",\r\n");
        assert_true(n < sizeof(val));
        memcpy(val, p, n);
        val[n] = '\0';
        fclose(f);
        return val;
    }
    fclose(f);
    fail_msg("%s not in %s", rel, csvname);
    return NULL;
}

/* The same in the vendored corpus. */
static const char *csv_value(const char *csvname, const char *rel, int col)
{
    return csv_value_in(PDQ_DIR, csvname, rel, col);
}

/* Copies the reference PDQ of file rel of the corpus in dir into hex: 64
 * hex digits, or the test fails (a short or long field is a broken CSV). */
static void expected_pdq_in(const char *dir, const char *rel, char hex[65])
{
    const char *v = csv_value_in(dir, "expected.csv", rel, 1);
    assert_int_equal(strlen(v), 64);
    memcpy(hex, v, 65);
}

/* Meta's pdq-photo-hasher line for file rel of the corpus in dir, printed
 * as path.  A line that does not fit in buf fails the test instead of
 * being compared cut short. */
static void expected_line_in(const char *dir, char *buf, size_t size, const char *rel,
                             const char *path)
{
    char hex[65];
    expected_pdq_in(dir, rel, hex);
    int n = snprintf(buf, size, "%s,%s,%s\n", hex, csv_value_in(dir, "expected.csv", rel, 2), path);
    assert_true(n > 0 && (size_t)n < size);
}

static void expected_line(char *buf, size_t size, const char *rel, const char *path)
{
    expected_line_in(PDQ_DIR, buf, size, rel, path);
}

static void copy_file(const char *src, const char *dstrel, long max_bytes)
{
    char dst[512];
    snprintf(dst, sizeof(dst), "%s/%s", tmpdir, dstrel);
    FILE *in = fopen(src, "rb");
    FILE *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0 && (max_bytes < 0 || total < max_bytes)) {
        if (max_bytes >= 0 && total + (long)n > max_bytes)
            n = (size_t)(max_bytes - total);
        assert_int_equal(fwrite(buf, 1, n, out), n);
        total += (long)n;
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void mkdir_rel(const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void test_usage(void **state)
{
    (void)state;
    static const struct {
        const char *args[6];
        int status;
        const char *in_stdout, *in_stderr;
    } cases[] = {
        {{NULL}, 2, "", "Usage: sitr [--lang en|fr|ar] [--verbose] COMMAND"},
        {{"--help", NULL}, 0, "Usage: sitr [--lang en|fr|ar] [--verbose] COMMAND", ""},
        {{"--lang", "fr", "--help", NULL}, 0, "Utilisation : sitr [--lang en|fr|ar]", ""},
        {{"hash", "--help", "--lang=ar", NULL}, 0, "الاستعمال: sitr hash [خيارات] المسار...", ""},
        {{"--lang", "xx", "hash", NULL}, 2, "", "unknown language 'xx'"},
        {{"hash", "--lang", NULL}, 2, "", "--lang needs a language"},
        {{"--lang", "fr", "hash", NULL}, 2, "", "aucun CHEMIN"},
        {{"-h", NULL}, 0, "hash ", ""},
        {{"--version", NULL}, 0, "sitr " SITR_VERSION "\n", ""},
        {{"frobnicate", NULL}, 2, "", "unknown command 'frobnicate'"},
        {{"--frob", NULL}, 2, "", "unknown option '--frob'"},
        {{"hash", NULL}, 2, "", "no PATH given"},
        {{"hash", "--help", NULL}, 0, "<pdq>,<quality>,<path>", ""},
        {{"hash", "-h", NULL}, 0, "flipplus1", ""},
        {{"hash", "--format", "xml", BRIDGE "/aaa-orig.jpg", NULL}, 2, "", "unknown format 'xml'"},
        {{"hash", "--format", NULL}, 2, "", "needs a value"},
        {{"hash", "--jobs", "0", BRIDGE "/aaa-orig.jpg", NULL}, 2, "", "--jobs"},
        {{"hash", "-j", "3x", BRIDGE "/aaa-orig.jpg", NULL}, 2, "", "'3x'"},
        {{"hash", "--nope", BRIDGE "/aaa-orig.jpg", NULL}, 2, "", "unknown option '--nope'"},
        {{"hash", "-q", BRIDGE "/aaa-orig.jpg", NULL}, 2, "", "unknown option '-q'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_t r = run_sitr(cases[i].args);
        if (r.status != cases[i].status)
            fail_msg("case %zu: status %d, want %d; stderr: %s", i, r.status, cases[i].status,
                     r.err);
        assert_contains(r.out, cases[i].in_stdout);
        assert_contains(r.err, cases[i].in_stderr);
        if (cases[i].status == 2) {
            assert_string_equal(r.out, ""); /* usage errors print nothing to stdout */
            if (i > 0)
                assert_contains(r.err, "--help");
        }
        run_free(&r);
    }
}

/* Every bridge-mods file of corpus c named on the command line: one line
 * each, in argument order, equal to the reference's line. */
static void text_matches_reference(const pdqt_corpus_t *c)
{
    char **names = pdqt_bridge_names(c);
    const size_t n = (size_t)c->bridge;
    assert_true(n <= MAX_BRIDGE);
    const char *args[MAX_BRIDGE + 2];
    char paths[MAX_BRIDGE][1200];
    args[0] = "hash";
    /* Reverse order: output must follow the arguments, not sorting. */
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof(paths[i]), "%s/bridge-mods/%s", c->dir, names[n - 1 - i]);
        args[i + 1] = paths[i];
    }
    args[n + 1] = NULL;
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    char want[MAX_BRIDGE * 1400] = "";
    for (size_t i = 0; i < n; i++) {
        char rel[300], line[1400];
        snprintf(rel, sizeof(rel), "bridge-mods/%s", names[n - 1 - i]);
        expected_line_in(c->dir, line, sizeof(line), rel, paths[i]);
        strcat(want, line);
    }
    assert_string_equal(r.out, want);
    run_free(&r);
    pdqt_names_free(names);
}

static void test_text_matches_reference(void **state)
{
    (void)state;
    text_matches_reference(pdqt_vendored());
    const pdqt_corpus_t *c = pdqt_extended("bridge-mods files");
    if (c != NULL)
        text_matches_reference(c);
}

/* A folder argument (corpus c's bridge-mods): sorted, recursive, joined
 * paths, and the same bytes whatever the number of workers. */
static void folder_order_and_jobs(const pdqt_corpus_t *c)
{
    char **names = pdqt_bridge_names(c);
    const size_t n = (size_t)c->bridge;
    assert_true(n <= MAX_BRIDGE);
    char want[MAX_BRIDGE * 1400] = "";
    for (size_t i = 0; i < n; i++) {
        char rel[300], path[1200], line[1400];
        snprintf(rel, sizeof(rel), "bridge-mods/%s", names[i]);
        snprintf(path, sizeof(path), "%s/bridge-mods/%s", c->dir, names[i]);
        expected_line_in(c->dir, line, sizeof(line), rel, path);
        strcat(want, line);
    }
    char folder[1200];
    snprintf(folder, sizeof(folder), "%s/bridge-mods/", c->dir);
    const char *jobs[] = {"1", "2", "5"};
    for (size_t j = 0; j < 3; j++) {
        /* The trailing slash is kept as given and not doubled. */
        const char *args[] = {"hash", "--jobs", jobs[j], folder, NULL};
        run_t r = run_sitr(args);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, want);
        run_free(&r);
    }
    pdqt_names_free(names);
}

static void test_folder_order_and_jobs(void **state)
{
    (void)state;
    folder_order_and_jobs(pdqt_vendored());
    const pdqt_corpus_t *c = pdqt_extended("bridge-mods folder");
    if (c != NULL)
        folder_order_and_jobs(c);
}

/* A tree with sub-folders, hidden files, a symlink loop, an empty and a
 * truncated file: the good files are printed in walk order, every bad one
 * is reported on stderr in order, and the exit status is 1. */
static void test_tree_with_bad_files(void **state)
{
    (void)state;
    mkdir_rel("t");
    mkdir_rel("t/a");
    copy_file(BRIDGE "/aaa-orig.jpg", "t/b.jpg", -1);
    copy_file(BRIDGE "/square-128x128.jpg", "t/a/z.jpg", -1);
    copy_file(BRIDGE "/square-128x128.jpg", "t/a/.hidden.jpg", 100); /* skipped, else fails */
    copy_file(BRIDGE "/aaa-orig.jpg", "t/a/m.jpg", 4000);            /* truncated */
    copy_file(BRIDGE "/aaa-orig.jpg", "t/a/empty.jpg", 0);
    char link[512];
    snprintf(link, sizeof(link), "%s/t/loop", tmpdir);
    assert_int_equal(symlink(".", link), 0);

    char top[512];
    snprintf(top, sizeof(top), "%s/t", tmpdir);
    const char *args[] = {"hash", top, NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 1);

    char want[2000], l1[700], l2[700], p1[600], p2[600];
    snprintf(p1, sizeof(p1), "%s/a/z.jpg", top);
    snprintf(p2, sizeof(p2), "%s/b.jpg", top);
    expected_line(l1, sizeof(l1), "bridge-mods/square-128x128.jpg", p1);
    expected_line(l2, sizeof(l2), "bridge-mods/aaa-orig.jpg", p2);
    snprintf(want, sizeof(want), "%s%s", l1, l2);
    assert_string_equal(r.out, want);

    /* stderr: exactly the three bad entries, in walk order. */
    char e1[600], e2[600], e3[600];
    snprintf(e1, sizeof(e1), "sitr: %s/a/empty.jpg: ", top);
    snprintf(e2, sizeof(e2), "sitr: %s/a/m.jpg: ", top);
    snprintf(e3, sizeof(e3), "sitr: %s/loop: ", top);
    const char *p = strstr(r.err, e1), *q = strstr(r.err, e2), *s = strstr(r.err, e3);
    if (p == NULL || q == NULL || s == NULL || !(p < q && q < s))
        fail_msg("bad entries missing or out of order in stderr:\n%s", r.err);
    assert_int_equal(count_lines(r.err), 3);
    assert_contains(s, "loop");
    assert_null(strstr(r.err, "hidden"));
    run_free(&r);
}

/* Bad files between good ones, with several workers: the good ones still
 * come out, in argument order. */
static void test_bad_file_in_middle(void **state)
{
    (void)state;
    copy_file(BRIDGE "/aaa-orig.jpg", "trunc.jpg", 20000);
    copy_file(PDQ_DIR "/README.md", "notes.jpg", -1); /* wrong extension, not an image */
    char trunc[512], notes[512], missing[512];
    snprintf(trunc, sizeof(trunc), "%s/trunc.jpg", tmpdir);
    snprintf(notes, sizeof(notes), "%s/notes.jpg", tmpdir);
    snprintf(missing, sizeof(missing), "%s/missing.jpg", tmpdir);
    const char *args[] = {"hash", "-j",    "3",   BRIDGE "/square-128x128.jpg",
                          trunc,  missing, notes, BRIDGE "/aaa-orig.jpg",
                          NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 1);
    char want[2000], l1[700], l2[700];
    expected_line(l1, sizeof(l1), "bridge-mods/square-128x128.jpg", BRIDGE "/square-128x128.jpg");
    expected_line(l2, sizeof(l2), "bridge-mods/aaa-orig.jpg", BRIDGE "/aaa-orig.jpg");
    snprintf(want, sizeof(want), "%s%s", l1, l2);
    assert_string_equal(r.out, want);
    assert_int_equal(count_lines(r.err), 3);
    char e[600];
    snprintf(e, sizeof(e), "sitr: %s: ", trunc);
    const char *a = strstr(r.err, e);
    snprintf(e, sizeof(e), "sitr: %s: ", missing);
    const char *b = strstr(r.err, e);
    snprintf(e, sizeof(e), "sitr: %s: ", notes);
    const char *c = strstr(r.err, e);
    if (a == NULL || b == NULL || c == NULL || !(a < b && b < c))
        fail_msg("errors missing or out of order:\n%s", r.err);
    run_free(&r);
}

/* A file name with a line break cannot be printed in the line-based text
 * format without forging a record: that file fails, the others print. */
static void test_text_line_break_in_name(void **state)
{
    (void)state;
    mkdir_rel("d");
    copy_file(BRIDGE "/aaa-orig.jpg", "d/a.jpg", -1);
    copy_file(BRIDGE "/aaa-orig.jpg",
              "d/b.jpg\n0000000000000000000000000000000000000000000000000000000000000000,100,"
              "forged.jpg",
              -1);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/d", tmpdir);
    const char *args[] = {"hash", dir, NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 1);
    char want[1200], a[600];
    snprintf(a, sizeof(a), "%s/a.jpg", dir);
    expected_line(want, sizeof(want), "bridge-mods/aaa-orig.jpg", a);
    assert_string_equal(r.out, want);
    assert_contains(r.err, "line break");
    /* The message shows the name with its control characters replaced. */
    assert_contains(r.err, "/b.jpg?0000");
    assert_null(strstr(r.err, "/b.jpg\n"));
    run_free(&r);

    /* CSV quotes the name instead. */
    const char *args2[] = {"hash", "--format", "csv", dir, NULL};
    r = run_sitr(args2);
    assert_int_equal(r.status, 0);
    assert_contains(r.out, "/b.jpg\n0000");
    run_free(&r);
}

static void test_csv(void **state)
{
    (void)state;
    /* A path with a comma and a quote needs CSV quoting. */
    copy_file(BRIDGE "/square-128x128.jpg", "a,\"b\".jpg", -1);
    char odd[512];
    snprintf(odd, sizeof(odd), "%s/a,\"b\".jpg", tmpdir);
    const char *args[] = {"hash", "--format", "csv", BRIDGE "/aaa-orig.jpg", odd, NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 0);
    char want[2000];
    char h1[65], h2[65];
    expected_pdq_in(PDQ_DIR, "bridge-mods/aaa-orig.jpg", h1);
    expected_pdq_in(PDQ_DIR, "bridge-mods/square-128x128.jpg", h2);
    snprintf(want, sizeof(want),
             "path,pdq,quality,md5,sha256\n"
             "%s,%s,100,%s,%s\n"
             "\"%s/a,\"\"b\"\".jpg\",%s,100,%s,%s\n",
             BRIDGE "/aaa-orig.jpg", h1, ORIG_MD5, ORIG_SHA, tmpdir, h2, SQ128_MD5, SQ128_SHA);
    assert_string_equal(r.out, want);
    run_free(&r);

    /* --dihedral adds the eight columns, in the reference's order. */
    const char *args2[] = {"hash", "-f", "csv", "--dihedral", BRIDGE "/aaa-orig.jpg", NULL};
    r = run_sitr(args2);
    assert_int_equal(r.status, 0);
    char *nl = strchr(r.out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_string_equal(r.out, "path,pdq,quality,md5,sha256,orig,rot90,rot180,rot270,flipx,"
                               "flipy,flipplus1,flipminus1");
    const char *row = nl + 1;
    for (int d = 0; d < 8; d++) {
        const char *want_hex =
            csv_value("expected-dihedral.csv", "bridge-mods/aaa-orig.jpg", 2 + d);
        const char *p = row;
        for (int i = 0; i < 5 + d; i++)
            p = strchr(p, ',') + 1;
        assert_memory_equal(p, want_hex, 64);
    }
    run_free(&r);
}

static void test_text_dihedral(void **state)
{
    (void)state;
    const char *rels[] = {"bridge-mods/aaa-orig.jpg", "bridge-mods/square-256x256.jpg"};
    const char *args[] = {"hash", "--dihedral", PDQ_DIR "/bridge-mods/aaa-orig.jpg",
                          PDQ_DIR "/bridge-mods/square-256x256.jpg", NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 0);
    char want[3000] = "";
    for (int i = 0; i < 2; i++) {
        char line[1000] = "";
        for (int d = 0; d < 8; d++) {
            strcat(line, csv_value("expected-dihedral.csv", rels[i], 2 + d));
            strcat(line, ",");
        }
        strcat(line, csv_value("expected-dihedral.csv", rels[i], 1));
        strcat(line, ",");
        strcat(line, args[2 + i]);
        strcat(line, "\n");
        strcat(want, line);
    }
    assert_string_equal(r.out, want);
    run_free(&r);
}

static void test_jsonl(void **state)
{
    (void)state;
    copy_file(BRIDGE "/aaa-orig.jpg", "cut.jpg", 0);
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/cut.jpg", tmpdir);
    const char *args[] = {
        "hash", "--format", "jsonl", BRIDGE "/aaa-orig.jpg", bad, BRIDGE "/square-128x128.jpg",
        NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 1);
    assert_int_equal(count_lines(r.out), 3);
    assert_int_equal(count_lines(r.err), 1);

    const char *rels[] = {"bridge-mods/aaa-orig.jpg", NULL, "bridge-mods/square-128x128.jpg"};
    const char *md5s[] = {ORIG_MD5, NULL, SQ128_MD5}, *shas[] = {ORIG_SHA, NULL, SQ128_SHA};
    char *line = r.out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (o == NULL)
            fail_msg("line %d is not JSON (%s): %s", i, je.text, line);
        assert_string_equal(json_string_value(json_object_get(o, "path")), args[3 + i]);
        if (rels[i] == NULL) {
            json_t *e = json_object_get(o, "error");
            assert_non_null(e);
            assert_non_null(json_string_value(json_object_get(e, "code")));
            assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
            assert_null(json_object_get(o, "pdq"));
        } else {
            assert_null(json_object_get(o, "error"));
            assert_string_equal(json_string_value(json_object_get(o, "pdq")),
                                csv_value("expected.csv", rels[i], 1));
            assert_int_equal(json_integer_value(json_object_get(o, "quality")),
                             atoi(csv_value("expected.csv", rels[i], 2)));
            json_t *d = json_object_get(o, "dihedral");
            assert_int_equal(json_array_size(d), 8);
            for (int k = 0; k < 8; k++)
                assert_string_equal(json_string_value(json_array_get(d, (size_t)k)),
                                    csv_value("expected-dihedral.csv", rels[i], 2 + k));
            assert_string_equal(json_string_value(json_object_get(o, "md5")), md5s[i]);
            assert_string_equal(json_string_value(json_object_get(o, "sha256")), shas[i]);
        }
        json_decref(o);
        line = nl + 1;
    }
    run_free(&r);
}

/* A featureless image is still hashed but warned about on stderr. */
static void test_low_quality_warning(void **state)
{
    (void)state;
    const char *rel = "reg-test-input/labelme-subset/q0003.jpg";
    const char *args[] = {"hash", PDQ_DIR "/reg-test-input/labelme-subset/q0003.jpg",
                          BRIDGE "/aaa-orig.jpg", NULL};
    run_t r = run_sitr(args);
    assert_int_equal(r.status, 0);
    char l1[700], l2[700], want[1400];
    expected_line(l1, sizeof(l1), rel, args[1]);
    expected_line(l2, sizeof(l2), "bridge-mods/aaa-orig.jpg", args[2]);
    snprintf(want, sizeof(want), "%s%s", l1, l2);
    assert_string_equal(r.out, want);
    assert_contains(r.err, "warning");
    assert_contains(r.err, "q0003.jpg");
    assert_contains(r.err, "too plain (dark, bright or blurred) to match safely");
    assert_int_equal(count_lines(r.err), 1);
    run_free(&r);
}

int main(void)
{
    /* English, whatever the machine's language; the language tests set
     * their own. */
    unsetenv("LANGUAGE");
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    setenv("LANG", "C.UTF-8", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_matches_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_order_and_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_with_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file_in_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_dihedral, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_line_break_in_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_low_quality_warning, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
