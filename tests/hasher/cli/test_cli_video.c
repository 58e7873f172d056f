/* End-to-end tests of `sitr hash` and `sitr case` with videos: runs the
 * built binary with posix_spawn on the vendored sample videos
 * (tests/data/vpdq) and images (tests/data/pdq), and checks
 *   - --format vpdq byte for byte against the reference's files built on
 *     Debian 12 (ref-debian12/<video>.s1.txt by default, <video>.s0.txt
 *     with --seconds-per-hash 0);
 *   - --format jsonl field by field against the same files and digests
 *     taken once with md5sum/sha256sum;
 *   - text and CSV for a folder mixing images and videos, in input order;
 *   - recognition by content (a video named .jpg, an image named .mp4);
 *   - corrupt videos and usage errors, with their exit status;
 *   - `sitr case create` refusing videos before sending anything (a
 *     listening socket proves no connection was made).
 * Each test builds its files in a fresh temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SITR_BIN  SITR_BINARY_DIR "/hasher/cli/sitr"
#define VPDQ_DIR  SITR_SOURCE_DIR "/tests/data/vpdq"
#define VIDEOS    VPDQ_DIR "/videos"
#define REF_DIR   VPDQ_DIR "/ref-debian12"
#define PDQ_DIR   SITR_SOURCE_DIR "/tests/data/pdq"
#define ORIG_JPG  PDQ_DIR "/bridge-mods/aaa-orig.jpg"
#define SQ128_JPG PDQ_DIR "/bridge-mods/square-128x128.jpg"

/* The vendored videos: size, decoded frames, and md5sum/sha256sum of the
 * files, taken once by hand (tests/data/vpdq/README.md describes them). */
static const struct video {
    const char *name;
    int width, height;
    const char *duration; /* decoded frames / 30 fps, "%.3f" */
    const char *md5, *sha256;
} videos[] = {
    {"doorknob-hd-no-bar", 1280, 720, "4.000", "9108849f0d0bb6d3c40844f4eb72767b",
     "1b2c3c9ab713f9006063181d9a2a2fb7a6b7615a2105fe5f268f9421f88547a7"},
    {"pattern-sd-grey-bar", 480, 720, "6.867", "a41771fba244b67f491b18a17251d78a",
     "724f35f6b0040d1cd5f088a3d08f79177287cd113cfc8355c08a52c66ed1aa38"},
    {"test-padded-dimensions", 1080, 1080, "5.000", "749476eb0cd128289f0dec3e062da83c",
     "621553dfabd5774828d2e845e9b17081dadf9cb9965aa59eee8668369413062f"},
};
#define N_VIDEOS (sizeof(videos) / sizeof(videos[0]))

typedef struct run {
    int status; /* exit status, or -1 if killed by a signal */
    char *out, *err;
} run_t;

static char tmpdir[256];

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
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

/* Runs `sitr args...` (NULL-terminated) with stdout and stderr sent to
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

static void expect_status(const run_t *r, int want)
{
    if (r->status != want)
        fail_msg("exit status %d, want %d; stderr:\n%s", r->status, want, r->err);
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

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/sitr-cli-video-XXXXXX",
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

/* tmpdir/rel, written into buf. */
static const char *tmp_path(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", tmpdir, rel);
    return buf;
}

/* Copies src to tmpdir/rel, only its first max_bytes if max_bytes >= 0. */
static void copy_file(const char *src, const char *rel, long max_bytes)
{
    char dst[512];
    tmp_path(dst, sizeof(dst), rel);
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
    assert_int_equal(mkdir(tmp_path(p, sizeof(p), rel), 0755), 0);
}

static const char *video_path(char *buf, size_t size, const struct video *v)
{
    snprintf(buf, size, "%s/%s.mp4", VIDEOS, v->name);
    return buf;
}

static char *ref_file(const struct video *v, int every_frame)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s.%s.txt", REF_DIR, v->name, every_frame ? "s0" : "s1");
    return read_all(p);
}

/* The PDQ text line `sitr hash` printed for an image (first line of a
 * run on it alone), for comparing mixed output. */
static char *image_line(const char *path, const char *shown_as)
{
    const char *args[] = {"hash", path, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 0);
    char *comma = strrchr(r.out, ',');
    assert_non_null(comma);
    char *line = NULL;
    assert_true(asprintf(&line, "%.*s,%s\n", (int)(comma - r.out), r.out, shown_as) > 0);
    run_free(&r);
    return line;
}

/* ---- vpdq: the reference's files, byte for byte ------------------------------- */

static void test_vpdq_matches_reference(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VIDEOS; i++) {
        char path[512];
        video_path(path, sizeof(path), &videos[i]);
        for (int every = 0; every <= 1; every++) {
            const char *args1[] = {"hash", "--format", "vpdq", path, NULL};
            const char *args0[] = {"hash", "-f", "vpdq", "--seconds-per-hash", "0", path, NULL};
            run_t r = run_sitr(every ? args0 : args1);
            expect_status(&r, 0);
            char *want = ref_file(&videos[i], every);
            if (strcmp(r.out, want) != 0)
                fail_msg("%s (s%d): vpdq output differs from the reference:\n%s", videos[i].name,
                         every ? 0 : 1, r.out);
            free(want);
            run_free(&r);
        }
    }
    /* A fraction: one frame in 15 at 30 fps, the s0 lines at multiples of 15. */
    char path[512];
    video_path(path, sizeof(path), &videos[2]);
    const char *args[] = {"hash", "-f", "vpdq", "--seconds-per-hash", "0.5", path, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 0);
    char *s0 = ref_file(&videos[2], 1), *want = calloc(strlen(s0) + 1, 1);
    assert_non_null(want);
    for (char *line = strtok(s0, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (atoi(line) % 15 == 0) {
            strcat(want, line);
            strcat(want, "\n");
        }
    }
    assert_int_equal(count_lines(want), 10);
    assert_string_equal(r.out, want);
    free(want);
    free(s0);
    run_free(&r);
}

/* ---- jsonl ---------------------------------------------------------------------- */

/* Checks one video object against the reference lines of its file. */
static void check_video_json(json_t *o, const struct video *v, const char *path, int every,
                             int dihedral, int *trimmed_seen)
{
    assert_string_equal(json_string_value(json_object_get(o, "type")), "video");
    assert_string_equal(json_string_value(json_object_get(o, "path")), path);
    assert_string_equal(json_string_value(json_object_get(o, "md5")), v->md5);
    assert_string_equal(json_string_value(json_object_get(o, "sha256")), v->sha256);
    assert_int_equal(json_integer_value(json_object_get(o, "width")), v->width);
    assert_int_equal(json_integer_value(json_object_get(o, "height")), v->height);
    char buf[64];
    snprintf(buf, sizeof(buf), "%.3f", json_real_value(json_object_get(o, "duration")));
    assert_string_equal(buf, v->duration);
    assert_true(json_real_value(json_object_get(o, "fps")) == 30.0);
    assert_null(json_object_get(o, "error"));

    json_t *frames = json_object_get(o, "frames");
    char *ref = ref_file(v, every);
    size_t k = 0;
    for (char *line = strtok(ref, "\n"); line != NULL; line = strtok(NULL, "\n"), k++) {
        json_t *f = json_array_get(frames, k);
        if (f == NULL)
            fail_msg("%s: frame %zu missing", v->name, k);
        char got[200];
        snprintf(got, sizeof(got), "%lld,%lld,%s,%.3f",
                 (long long)json_integer_value(json_object_get(f, "n")),
                 (long long)json_integer_value(json_object_get(f, "quality")),
                 json_string_value(json_object_get(f, "pdq")),
                 json_real_value(json_object_get(f, "t")));
        assert_string_equal(got, line);
        json_t *d = json_object_get(f, "dihedral");
        if (dihedral) {
            assert_int_equal(json_array_size(d), 8);
            /* orig first: the plain hash */
            assert_string_equal(json_string_value(json_array_get(d, 0)),
                                json_string_value(json_object_get(f, "pdq")));
            for (size_t j = 0; j < 8; j++)
                assert_int_equal(strlen(json_string_value(json_array_get(d, j))), 64);
        } else {
            assert_null(d);
        }
        json_t *t = json_object_get(f, "trimmed");
        if (t != NULL) {
            assert_int_equal(strlen(json_string_value(json_object_get(t, "pdq"))), 64);
            json_int_t q = json_integer_value(json_object_get(t, "quality"));
            assert_true(q >= 0 && q <= 100);
            (*trimmed_seen)++;
        }
    }
    assert_int_equal(json_array_size(frames), k);
    free(ref);
}

static json_t *parse_line(char **cursor)
{
    char *nl = strchr(*cursor, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_error_t je;
    json_t *o = json_loads(*cursor, 0, &je);
    if (o == NULL)
        fail_msg("not JSON (%s): %s", je.text, *cursor);
    *cursor = nl + 1;
    return o;
}

static void test_jsonl_videos(void **state)
{
    (void)state;
    int trimmed = 0;
    /* The folder: its three videos in name order, with dihedral hashes. */
    const char *args[] = {"hash", "--format", "jsonl", "-d", VIDEOS, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 0);
    assert_int_equal(count_lines(r.out), N_VIDEOS);
    char *cur = r.out;
    for (size_t i = 0; i < N_VIDEOS; i++) {
        char path[512];
        video_path(path, sizeof(path), &videos[i]);
        json_t *o = parse_line(&cur);
        check_video_json(o, &videos[i], path, 0, 1, &trimmed);
        json_decref(o);
    }
    run_free(&r);
    /* pattern-sd-grey-bar is letterboxed: its frames get the trimmed hash. */
    assert_true(trimmed > 0);

    /* Every frame, without dihedral hashes. */
    char path[512];
    video_path(path, sizeof(path), &videos[2]);
    const char *args0[] = {"hash", "--format", "jsonl", "--seconds-per-hash", "0", path, NULL};
    r = run_sitr(args0);
    expect_status(&r, 0);
    assert_int_equal(count_lines(r.out), 1);
    cur = r.out;
    json_t *o = parse_line(&cur);
    check_video_json(o, &videos[2], path, 1, 0, &trimmed);
    json_decref(o);
    run_free(&r);
}

/* ---- mixed folders, content not names -------------------------------------------- */

static void test_mixed_folder_in_order(void **state)
{
    (void)state;
    mkdir_rel("m");
    mkdir_rel("m/b");
    copy_file(ORIG_JPG, "m/a.jpg", -1);
    copy_file(VIDEOS "/doorknob-hd-no-bar.mp4", "m/b/c.mp4", -1);
    copy_file(SQ128_JPG, "m/b/d.jpg", -1);
    copy_file(ORIG_JPG, "m/b/e.jpg", -1);
    copy_file(VIDEOS "/test-padded-dimensions.mp4", "m/f.mp4", -1);
    copy_file(SQ128_JPG, "m/g.jpg", -1);
    char dir[512], p[6][512];
    tmp_path(dir, sizeof(dir), "m");
    const char *rels[] = {"m/a.jpg", "m/b/c.mp4", "m/b/d.jpg", "m/b/e.jpg", "m/f.mp4", "m/g.jpg"};
    for (int i = 0; i < 6; i++)
        tmp_path(p[i], sizeof(p[i]), rels[i]);

    char *want = NULL;
    char *l0 = image_line(ORIG_JPG, p[0]), *l2 = image_line(SQ128_JPG, p[2]),
         *l3 = image_line(ORIG_JPG, p[3]), *l5 = image_line(SQ128_JPG, p[5]);
    assert_true(asprintf(&want, "%svideo,4,4.000,%s\n%s%svideo,5,5.000,%s\n%s", l0, p[1], l2, l3,
                         p[4], l5) > 0);
    const char *jobs[] = {"1", "2", "4"};
    for (int j = 0; j < 3; j++) {
        const char *args[] = {"hash", "-j", jobs[j], dir, NULL};
        run_t r = run_sitr(args);
        expect_status(&r, 0);
        assert_string_equal(r.out, want);
        assert_string_equal(r.err, "");
        run_free(&r);
    }
    free(want);
    free(l0);
    free(l2);
    free(l3);
    free(l5);

    /* jsonl: a type on every record, in the same order. */
    const char *args[] = {"hash", "--format", "jsonl", dir, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 0);
    const char *types[] = {"image", "video", "image", "image", "video", "image"};
    char *cur = r.out;
    assert_int_equal(count_lines(r.out), 6);
    for (int i = 0; i < 6; i++) {
        json_t *o = parse_line(&cur);
        assert_string_equal(json_string_value(json_object_get(o, "type")), types[i]);
        assert_string_equal(json_string_value(json_object_get(o, "path")), p[i]);
        json_decref(o);
    }
    run_free(&r);

    /* csv: frame and timestamp columns, one row per hashed frame. */
    const char *argc[] = {"hash", "--format", "csv", p[0], p[4], NULL};
    r = run_sitr(argc);
    expect_status(&r, 0);
    assert_int_equal(count_lines(r.out), 1 + 1 + 5);
    char *nl = strchr(r.out, '\n');
    *nl = '\0';
    assert_string_equal(r.out, "path,pdq,quality,md5,sha256,frame,timestamp");
    char *row = nl + 1;
    nl = strchr(row, '\n');
    assert_true(nl[-1] == ',' && nl[-2] == ','); /* the image: no frame, no time */
    char *ref = ref_file(&videos[2], 0), *line = strtok(ref, "\n");
    for (row = nl + 1; *row != '\0'; row = nl + 1, line = strtok(NULL, "\n")) {
        nl = strchr(row, '\n');
        *nl = '\0';
        int n, q;
        char hex[65], t[16], want_row[1200];
        assert_int_equal(sscanf(line, "%d,%d,%64[0-9a-f],%15s", &n, &q, hex, t), 4);
        snprintf(want_row, sizeof(want_row), "%s,%s,%d,%s,%s,%d,%s", p[4], hex, q, videos[2].md5,
                 videos[2].sha256, n, t);
        assert_string_equal(row, want_row);
    }
    assert_null(line);
    free(ref);
    run_free(&r);
}

/* A video named .jpg is a video, an image named .mp4 an image. */
static void test_recognised_by_content(void **state)
{
    (void)state;
    copy_file(VIDEOS "/test-padded-dimensions.mp4", "clip.jpg", -1);
    copy_file(ORIG_JPG, "photo.mp4", -1);
    char clip[512], photo[512];
    tmp_path(clip, sizeof(clip), "clip.jpg");
    tmp_path(photo, sizeof(photo), "photo.mp4");
    const char *args[] = {"hash", "--format", "jsonl", clip, photo, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 0);
    char *cur = r.out;
    json_t *o = parse_line(&cur);
    int trimmed = 0;
    check_video_json(o, &videos[2], clip, 0, 0, &trimmed);
    json_decref(o);
    o = parse_line(&cur);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "image");
    char *line = image_line(ORIG_JPG, photo);
    assert_memory_equal(json_string_value(json_object_get(o, "pdq")), line, 64);
    free(line);
    json_decref(o);
    run_free(&r);

    const char *args2[] = {"hash", "-f", "vpdq", clip, NULL};
    r = run_sitr(args2);
    expect_status(&r, 0);
    char *want = ref_file(&videos[2], 0);
    assert_string_equal(r.out, want);
    free(want);
    run_free(&r);
}

/* ---- failures --------------------------------------------------------------------- */

static void test_corrupt_video(void **state)
{
    (void)state;
    /* Cut in the middle of the frames, and a name with a terminal escape. */
    copy_file(VIDEOS "/doorknob-hd-no-bar.mp4", "cut\x1b[31m.mp4", 200000);
    /* A real MP4 header followed by noise. */
    copy_file(VIDEOS "/test-padded-dimensions.mp4", "noise.mp4", 64);
    char cut[512], noise[512];
    tmp_path(cut, sizeof(cut), "cut\x1b[31m.mp4");
    tmp_path(noise, sizeof(noise), "noise.mp4");
    FILE *f = fopen(noise, "ab");
    assert_non_null(f);
    for (int i = 0; i < 100000; i++)
        putc((i * 7919) & 0xff, f);
    assert_int_equal(fclose(f), 0);

    const char *args[] = {
        "hash", "--format", "jsonl", ORIG_JPG, cut, noise, VIDEOS "/test-padded-dimensions.mp4",
        NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 1);
    assert_int_equal(count_lines(r.out), 4);
    assert_int_equal(count_lines(r.err), 2);
    assert_null(strchr(r.err, '\x1b')); /* shown with '?' */
    assert_contains(r.err, "cut?[31m.mp4: ");
    char e[600];
    snprintf(e, sizeof(e), "sitr: %s: ", noise);
    assert_contains(r.err, e);
    char *cur = r.out;
    const char *types[] = {"image", "video", "video", "video"};
    for (int i = 0; i < 4; i++) {
        json_t *o = parse_line(&cur);
        assert_string_equal(json_string_value(json_object_get(o, "type")), types[i]);
        assert_string_equal(json_string_value(json_object_get(o, "path")), args[3 + i]);
        json_t *err = json_object_get(o, "error");
        if (i == 1 || i == 2) {
            assert_non_null(err);
            assert_true(strlen(json_string_value(json_object_get(err, "code"))) > 0);
            assert_true(strlen(json_string_value(json_object_get(err, "message"))) > 0);
            assert_null(json_object_get(o, "frames")); /* never a partial hash */
        } else {
            assert_null(err);
        }
        json_decref(o);
    }
    run_free(&r);

    /* vpdq: nothing on stdout, the failure on stderr. */
    const char *args2[] = {"hash", "-f", "vpdq", cut, NULL};
    r = run_sitr(args2);
    expect_status(&r, 1);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "cut?[31m.mp4: ");
    run_free(&r);

    /* text: the good files still print, in order. */
    const char *args3[] = {"hash", noise, VIDEOS "/test-padded-dimensions.mp4", NULL};
    r = run_sitr(args3);
    expect_status(&r, 1);
    assert_string_equal(r.out, "video,5,5.000," VIDEOS "/test-padded-dimensions.mp4\n");
    run_free(&r);
}

/* A video whose name holds a line break: the text format refuses that
 * file alone (it would forge a line), CSV quotes it on every frame row. */
static void test_video_name_with_line_break(void **state)
{
    (void)state;
    mkdir_rel("n");
    copy_file(VIDEOS "/test-padded-dimensions.mp4", "n/a\nvideo,9,9.000,forged.mp4", -1);
    copy_file(ORIG_JPG, "n/b.jpg", -1);
    char dir[512], img[512];
    tmp_path(dir, sizeof(dir), "n");
    tmp_path(img, sizeof(img), "n/b.jpg");
    const char *args[] = {"hash", dir, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 1);
    char *line = image_line(ORIG_JPG, img);
    assert_string_equal(r.out, line);
    free(line);
    assert_contains(r.err, "line break");
    assert_contains(r.err, "/n/a?video,9");
    run_free(&r);

    const char *args2[] = {"hash", "--format", "csv", dir, NULL};
    r = run_sitr(args2);
    expect_status(&r, 0);
    char want[600];
    snprintf(want, sizeof(want), "\n\"%s/a\nvideo,9,9.000,forged.mp4\",", dir);
    int rows = 0;
    for (const char *p = strstr(r.out, want); p != NULL; p = strstr(p + 1, want))
        rows++;
    assert_int_equal(rows, 5); /* one per hashed frame */
    run_free(&r);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char v1[512], v2[512];
    video_path(v1, sizeof(v1), &videos[0]);
    video_path(v2, sizeof(v2), &videos[1]);
    static const char *const bad_seconds[] = {"-1", "abc", "3601", "", "1x"};
    for (size_t i = 0; i < sizeof(bad_seconds) / sizeof(bad_seconds[0]); i++) {
        const char *args[] = {"hash", "--seconds-per-hash", bad_seconds[i], v1, NULL};
        run_t r = run_sitr(args);
        expect_status(&r, 2);
        assert_string_equal(r.out, "");
        assert_contains(r.err, "--seconds-per-hash");
        assert_contains(r.err, "--help");
        run_free(&r);
    }
    struct {
        const char *args[8];
        int status;
        const char *in_stderr;
    } cases[] = {
        {{"hash", "-f", "vpdq", v1, v2, NULL}, 2, "exactly one video file"},
        {{"hash", "-f", "vpdq", VIDEOS, NULL}, 2, "hold 3 files"},
        {{"hash", "-f", "vpdq", "-d", v1, NULL}, 2, "--dihedral"},
        {{"hash", "-f", "vpdq", ORIG_JPG, NULL}, 1, "not a video"},
        {{"hash", "-f", "vpdq", VIDEOS "/missing.mp4", NULL}, 1, "missing.mp4"},
        {{"hash", "--seconds-per-hash", NULL}, 2, "needs a value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_t r = run_sitr(cases[i].args);
        if (r.status != cases[i].status)
            fail_msg("case %zu: status %d, want %d; stderr: %s", i, r.status, cases[i].status,
                     r.err);
        assert_string_equal(r.out, "");
        assert_contains(r.err, cases[i].in_stderr);
        run_free(&r);
    }
    /* The help tells about videos. */
    const char *help[] = {"hash", "--help", NULL};
    run_t r = run_sitr(help);
    expect_status(&r, 0);
    assert_contains(r.out, "--seconds-per-hash");
    assert_contains(r.out, "vpdq");
    assert_contains(r.out, "\"type\":\"video\"");
    run_free(&r);
}

/* ---- sitr case ---------------------------------------------------------------------- */

/* Cases take videos now (they are hashed here and sent as hashes; the
 * e2e test test_cli_case_e2e sends real ones).  A video that cannot be
 * hashed is named (safely) and left out like an image; when nothing could
 * be hashed nothing is sent -- not even a connection to the server -- and
 * the --save file is given back. */
static void test_case_bad_videos_nothing_sent(void **state)
{
    (void)state;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(ls, 8), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
    char server[64];
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", ntohs(a.sin_port));

    mkdir_rel("c");
    /* Cut in the middle of the frames (recognised as a video by content
     * under an image's name), and a name with a terminal escape. */
    copy_file(VIDEOS "/doorknob-hd-no-bar.mp4", "c/b.jpg", 200000);
    copy_file(VIDEOS "/doorknob-hd-no-bar.mp4", "c/c\x1b[31m.mp4", 150000);
    char dir[512], save[512];
    tmp_path(dir, sizeof(dir), "c");
    tmp_path(save, sizeof(save), "secret");
    const char *args[] = {"case", "create", "--server", server, "--save", save, dir, NULL};
    run_t r = run_sitr(args);
    expect_status(&r, 1);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "/c/b.jpg: ");
    assert_contains(r.err, "/c/c?[31m.mp4: ");
    assert_null(strchr(r.err, '\x1b'));
    assert_contains(r.err, "the file is damaged or incomplete and cannot be read.");
    assert_contains(r.err, "nothing was sent");
    assert_null(strstr(r.err, "do not accept videos"));
    struct pollfd pfd = {.fd = ls, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0); /* no connection waiting */
    struct stat st;
    assert_int_equal(stat(save, &st), -1); /* the --save file was given back */
    run_free(&r);

    /* The help says videos are taken. */
    const char *help[] = {"case", "--help", NULL};
    r = run_sitr(help);
    expect_status(&r, 0);
    assert_contains(r.out, "5 frames a second");
    assert_null(strstr(r.out, "not accepted"));
    run_free(&r);
    close(ls);
}

int main(void)
{
    /* English, whatever the machine's language; and the file `sitr case
     * create` writes after a case kept out of the home folder. */
    unsetenv("LANGUAGE");
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    setenv("LANG", "C.UTF-8", 1);
    setenv("XDG_CONFIG_HOME", SITR_BINARY_DIR "/cli_video-config", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vpdq_matches_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_videos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_folder_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recognised_by_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_video, setup, teardown),
        cmocka_unit_test_setup_teardown(test_video_name_with_line_break, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_bad_videos_nothing_sent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
