/* bench-hash: how fast sitr hashes image files, end to end, next to the
 * floor set by the decoder.
 *
 * For each input (by default a 12-megapixel JPEG, a 1-megapixel JPEG and a
 * 512x512 PNG generated at run time with libvips from the bridge photo of
 * the shared PDQ corpus; or the files named on the command line) it
 * measures, in the same run and under the same libvips settings that
 * sitr_image_init() chose:
 *   - plain decode: read the file, vips_image_new_from_buffer (sequential)
 *     and vips_avg, which pulls every pixel through the loader;
 *   - plain libjpeg-turbo decode (JPEG inputs only): read the file and
 *     jpeg_read_scanlines every row with libjpeg's defaults, the floor of
 *     sitr's JPEG fast path;
 *   - sitr end to end: sitr_image_hash_file (read, MD5, SHA-256, decode,
 *     pre-scale, luma, PDQ);
 * each on one thread (median time per image) and on N threads at once
 * (images per second of wall time).  It also times the PDQ core alone on
 * 512x512 luma.  Prints a table; asserts nothing.  Every measuring thread
 * works on its own image objects; the only shared state is the start
 * flag and the counters, read after the threads are joined. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>

#include <setjmp.h>
#include <jpeglib.h>

#include <sitr/image.h>
#include <sitr/pdq.h>

#define MAX_INPUTS  16
#define MAX_SAMPLES 4096

typedef struct input {
    char path[1024];
    char label[64];
    int width, height;
    long bytes;
} input_t;

typedef enum mode { MODE_DECODE, MODE_JPEG, MODE_SITR } bench_mode_t;

typedef struct job {
    const input_t *in;
    bench_mode_t mode;
    double seconds;
    long count; /* images done */
    int failed;
} job_t;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of the whole process: on a shared machine it shows the work
 * done even when other processes steal the cores, and it includes any
 * helper thread libvips uses. */
static double cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* One measurement: wall and CPU seconds per image, images per second. */
typedef struct figure {
    double wall, cpu, rate;
} figure_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

/* One plain decode: the work any libvips program must do for this file. */
static int plain_decode(const char *path)
{
    size_t len;
    void *buf = read_file(path, &len);
    if (buf == NULL)
        return -1;
    VipsImage *img =
        vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    double avg = 0;
    int rc = img != NULL && vips_avg(img, &avg, NULL) == 0 ? 0 : -1;
    if (img != NULL)
        g_object_unref(img);
    free(buf);
    vips_error_clear();
    return rc;
}

typedef struct bench_jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} bench_jerr_t;

static void bench_jpeg_error_exit(j_common_ptr c)
{
    longjmp(((bench_jerr_t *)(void *)c->err)->jb, 1);
}

/* One plain libjpeg-turbo decode of every row, defaults (islow IDCT,
 * fancy upsampling, RGB or grey out). */
static int plain_jpeg(const char *path)
{
    size_t len;
    unsigned char *buf = read_file(path, &len);
    if (buf == NULL)
        return -1;
    struct jpeg_decompress_struct c;
    bench_jerr_t jerr;
    unsigned char *volatile row = NULL;
    c.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = bench_jpeg_error_exit;
    if (setjmp(jerr.jb) != 0) {
        jpeg_destroy_decompress(&c);
        free(row);
        free(buf);
        return -1;
    }
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, buf, (unsigned long)len);
    jpeg_read_header(&c, TRUE);
    jpeg_start_decompress(&c);
    row = malloc((size_t)c.output_width * (size_t)c.output_components);
    if (row == NULL)
        longjmp(jerr.jb, 1);
    while (c.output_scanline < c.output_height) {
        JSAMPROW r = row;
        jpeg_read_scanlines(&c, &r, 1);
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    free(row);
    free(buf);
    return 0;
}

static int is_jpeg_file(const char *path)
{
    unsigned char m[3] = {0, 0, 0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(m, 1, 3, f);
    fclose(f);
    return n == 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF;
}

static int one(const job_t *j)
{
    if (j->mode == MODE_DECODE)
        return plain_decode(j->in->path);
    if (j->mode == MODE_JPEG)
        return plain_jpeg(j->in->path);
    sitr_image_t out;
    sitr_err_t err;
    return sitr_image_hash_file(j->in->path, 0, NULL, &out, &err) < 0 ? -1 : 0;
}

/* Median wall and CPU seconds per image on the calling thread. */
static figure_t one_thread(job_t *j)
{
    static double wall[MAX_SAMPLES], cpu[MAX_SAMPLES];
    figure_t f = {0, 0, 0};
    long n = 0;
    one(j); /* warm caches and the loader */
    double end = now_s() + j->seconds;
    while (n < MAX_SAMPLES && (n < 3 || now_s() < end)) {
        double t0 = now_s(), c0 = cpu_s();
        if (one(j) < 0) {
            j->failed = 1;
            break;
        }
        cpu[n] = cpu_s() - c0;
        wall[n++] = now_s() - t0;
    }
    if (n == 0)
        return f;
    qsort(wall, (size_t)n, sizeof(double), cmp_double);
    qsort(cpu, (size_t)n, sizeof(double), cmp_double);
    f.wall = wall[n / 2];
    f.cpu = cpu[n / 2];
    f.rate = f.wall > 0 ? 1 / f.wall : 0;
    return f;
}

static void *loop_main(void *arg)
{
    job_t *j = arg;
    double end = now_s() + j->seconds;
    while (now_s() < end) {
        if (one(j) < 0) {
            j->failed = 1;
            break;
        }
        j->count++;
    }
    return NULL;
}

/* Images per second of wall time with nthreads threads hashing the same
 * file, and the CPU time spent per image. */
static figure_t throughput(const job_t *proto, int nthreads)
{
    job_t jobs[256];
    pthread_t tids[256];
    figure_t f = {0, 0, 0};
    if (nthreads > 256)
        nthreads = 256;
    double t0 = now_s(), c0 = cpu_s();
    int started = 0;
    for (; started < nthreads; started++) {
        jobs[started] = *proto;
        jobs[started].count = 0;
        if (pthread_create(&tids[started], NULL, loop_main, &jobs[started]) != 0)
            break;
    }
    long total = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        total += jobs[i].count;
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    if (total > 0) {
        f.wall = wall / (double)total;
        f.cpu = cpu / (double)total;
        f.rate = (double)total / wall;
    }
    return f;
}

/* d: plain libvips decode, t: plain libjpeg-turbo decode (rate 0: not a
 * JPEG), s: sitr end to end.  The ratio is sitr over the decoder sitr
 * itself uses for the file: libjpeg-turbo for JPEG, libvips otherwise. */
static void print_row(const char *label, const char *size, int threads, figure_t d, figure_t t,
                      figure_t s)
{
    char tj[40];
    figure_t floor = d;
    if (t.rate > 0) {
        snprintf(tj, sizeof tj, "%8.1f %8.1f %7.1f", t.wall * 1e3, t.cpu * 1e3, t.rate);
        floor = t;
    } else {
        snprintf(tj, sizeof tj, "%8s %8s %7s", "-", "-", "-");
    }
    printf("%-16s %-10s %7d | %8.1f %8.1f %7.1f | %s | %8.1f %8.1f %7.1f | %5.2fx %5.2fx\n", label,
           size, threads, d.wall * 1e3, d.cpu * 1e3, d.rate, tj, s.wall * 1e3, s.cpu * 1e3, s.rate,
           floor.wall > 0 ? s.wall / floor.wall : 0, floor.cpu > 0 ? s.cpu / floor.cpu : 0);
}

static int describe(input_t *in)
{
    VipsImage *img = vips_image_new_from_file(in->path, NULL);
    if (img == NULL) {
        fprintf(stderr, "bench-hash: %s: %s\n", in->path, vips_error_buffer());
        return -1;
    }
    in->width = vips_image_get_width(img);
    in->height = vips_image_get_height(img);
    g_object_unref(img);
    struct stat st;
    in->bytes = stat(in->path, &st) == 0 ? (long)st.st_size : 0;
    return 0;
}

/* Resizes the source photo to exactly w x h and saves it as fmt. */
static int make_image(VipsImage *src, int w, int h, const char *path, int png)
{
    VipsImage *out = NULL;
    double hs = (double)w / vips_image_get_width(src), vs = (double)h / vips_image_get_height(src);
    int rc = vips_resize(src, &out, hs, "vscale", vs, NULL);
    if (rc == 0 && (vips_image_get_width(out) != w || vips_image_get_height(out) != h)) {
        /* Rounding can leave a pixel over: crop it off. */
        VipsImage *c = NULL;
        rc = vips_crop(out, &c, 0, 0, w, h, NULL);
        g_object_unref(out);
        out = c;
    }
    if (rc == 0)
        rc = png ? vips_pngsave(out, path, NULL) : vips_jpegsave(out, path, "Q", 90, NULL);
    if (out != NULL)
        g_object_unref(out);
    if (rc != 0)
        fprintf(stderr, "bench-hash: cannot make %s: %s\n", path, vips_error_buffer());
    return rc;
}

static int generate(char *dir, input_t *ins)
{
    const char *src_path = SITR_SHARED_DIR "/testdata/pdq/bridge-mods/aaa-orig.jpg";
    VipsImage *src = vips_image_new_from_file(src_path, NULL);
    if (src == NULL) {
        fprintf(stderr,
                "bench-hash: %s: %s(the extended corpus, ../shared/testdata/pdq, is not "
                "present? name image files instead)\n",
                src_path, vips_error_buffer());
        return -1;
    }
    static const struct {
        int w, h, png;
        const char *name, *label;
    } specs[3] = {
        {4000, 3000, 0, "12mp-q90.jpg", "12 MP JPEG q90"},
        {1155, 866, 0, "1mp-q90.jpg", "1 MP JPEG q90"},
        {512, 512, 1, "512.png", "512x512 PNG"},
    };
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        snprintf(ins[i].path, sizeof(ins[i].path), "%s/%s", dir, specs[i].name);
        snprintf(ins[i].label, sizeof(ins[i].label), "%s", specs[i].label);
        rc = make_image(src, specs[i].w, specs[i].h, ins[i].path, specs[i].png);
    }
    g_object_unref(src);
    return rc;
}

static void bench_core(double seconds)
{
    float *luma = malloc(512 * 512 * sizeof(float));
    if (luma == NULL)
        return;
    /* Deterministic texture: the core's cost does not depend on content. */
    uint32_t x = 12345;
    for (int i = 0; i < 512 * 512; i++) {
        x = x * 1664525u + 1013904223u;
        luma[i] = (float)(x >> 24);
    }
    for (int dih = 0; dih < 2; dih++) {
        sitr_pdq_result_t r;
        long n = 0;
        double t0 = now_s(), t = 0;
        do {
            if (sitr_pdq_hash(luma, 512, 512, dih ? SITR_PDQ_WANT_DIHEDRAL : 0, &r) < 0) {
                fputs("bench-hash: sitr_pdq_hash failed\n", stderr);
                break;
            }
            n++;
            t = now_s() - t0;
        } while (t < seconds);
        printf("PDQ core, 512x512 luma%s: %.0f hashes/s on one thread (%.2f ms each)\n",
               dih ? " + 8 dihedral" : "", (double)n / t, 1e3 * t / (double)n);
    }
    free(luma);
}

static void usage(void)
{
    fputs("Usage: bench-hash [--seconds S] [--threads N] [--keep] [FILE...]\n"
          "Times sitr's end-to-end hashing beside a plain libvips decode and (for JPEG)\n"
          "a plain libjpeg-turbo decode of the same files, on one thread and on N threads "
          "(default: all CPUs).  Without FILE it\n"
          "generates a 4000x3000 JPEG q90, a 1155x866 JPEG q90 and a 512x512 PNG from\n"
          "the shared PDQ corpus in a temporary folder.\n",
          stderr);
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = ncpu > 0 ? (int)ncpu : 1, keep = 0;
    input_t ins[MAX_INPUTS];
    int nin = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            nthreads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else if (argv[i][0] == '-') {
            usage();
            return 2;
        } else if (nin < MAX_INPUTS) {
            snprintf(ins[nin].path, sizeof(ins[nin].path), "%s", argv[i]);
            const char *base = strrchr(argv[i], '/');
            snprintf(ins[nin].label, sizeof(ins[nin].label), "%s", base ? base + 1 : argv[i]);
            nin++;
        }
    }
    if (seconds <= 0 || nthreads < 1) {
        usage();
        return 2;
    }
    if (sitr_image_init(argv[0]) < 0) {
        fputs("bench-hash: sitr_image_init failed\n", stderr);
        return 1;
    }

    char dir[512] = "";
    if (nin == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/sitr-bench-XXXXXX", tmp != NULL ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror("bench-hash: mkdtemp");
            return 1;
        }
        if (generate(dir, ins) != 0)
            return 1;
        nin = 3;
    }
    for (int i = 0; i < nin; i++)
        if (describe(&ins[i]) != 0)
            return 1;

    struct utsname u;
    uname(&u);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("bench-hash: sitr %s, libvips %s, %s %s, %ld CPUs online, %s\n", SITR_VERSION,
           vips_version_string(), u.sysname, u.machine, ncpu, date);
    printf("each figure: %.1f s of work.  1 thread: median wall and process-CPU time per image;\n"
           "%d threads: wall time / images done, CPU time / images done, images/s of wall "
           "time\n\n",
           seconds, nthreads);

    bench_core(seconds);
    printf("\n%-16s %-10s %7s | %26s | %26s | %26s | %12s\n", "input", "size", "",
           "plain libvips decode", "plain libjpeg-turbo decode", "sitr hash end to end",
           "sitr/decoder");
    printf("%-16s %-10s %7s | %8s %8s %7s | %8s %8s %7s | %8s %8s %7s | %6s %5s\n", "", "",
           "threads", "wall ms", "cpu ms", "img/s", "wall ms", "cpu ms", "img/s", "wall ms",
           "cpu ms", "img/s", "wall", "cpu");
    int failed = 0;
    for (int i = 0; i < nin; i++) {
        char size[32];
        snprintf(size, sizeof(size), "%dx%d", ins[i].width, ins[i].height);
        job_t dj = {.in = &ins[i], .mode = MODE_DECODE, .seconds = seconds};
        job_t tj = {.in = &ins[i], .mode = MODE_JPEG, .seconds = seconds};
        job_t sj = {.in = &ins[i], .mode = MODE_SITR, .seconds = seconds};
        int jpeg = is_jpeg_file(ins[i].path);
        figure_t none = {0, 0, 0};
        figure_t d1 = one_thread(&dj), t1 = jpeg ? one_thread(&tj) : none, s1 = one_thread(&sj);
        print_row(ins[i].label, size, 1, d1, t1, s1);
        if (nthreads > 1) {
            figure_t dn = throughput(&dj, nthreads);
            figure_t tn = jpeg ? throughput(&tj, nthreads) : none;
            figure_t sn = throughput(&sj, nthreads);
            print_row("", "", nthreads, dn, tn, sn);
        }
        fflush(stdout);
        if (dj.failed || tj.failed || sj.failed) {
            fprintf(stderr, "bench-hash: %s could not be decoded or hashed\n", ins[i].path);
            failed = 1;
        }
    }
    printf("\nMeta's pdq-photo-hasher on this machine class (SPEC.md section 7, one process "
           "per image):\n"
           "  12 MP JPEG q90 210 ms (4.8 img/s), 1 MP JPEG q90 36 ms (27 img/s), "
           "512x512 PNG 22 ms (46 img/s)\n");

    if (dir[0] != '\0' && !keep) {
        for (int i = 0; i < nin; i++)
            unlink(ins[i].path);
        rmdir(dir);
    } else if (dir[0] != '\0') {
        printf("inputs kept in %s\n", dir);
    }
    sitr_image_shutdown();
    return failed;
}
