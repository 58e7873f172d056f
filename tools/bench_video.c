/* bench-video: how fast sitr hashes a video, next to the floor set by the
 * decoder.
 *
 * Input: a 60-s 1080p H.264 file (by default var/bench/bench-1080p-60s.mp4,
 * made on first use with the ffmpeg program: a slow pan and zoom over the
 * bridge photo of the shared PDQ corpus with light film grain, libx264
 * -preset medium, 30 fps, yuv420p) and a 20-s 720p cut made the same way;
 * or the files named on the command line.  In one run, interleaved so that
 * load from other processes falls on every variant alike, it measures:
 *   - plain decode: libavformat + libavcodec, every frame decoded and
 *     nothing else, with the thread settings libsitrvideo gives its decoder
 *     for N hashing threads (thread_count N, frame+slice threads when N > 1);
 *   - sitr_video_hash_file at secondsPerHash 1 with 1 and with 2 hashing
 *     threads (decoding, RGB, luma, PDQ, dihedral off, MD5/SHA-256);
 *   - the every-frame rate (secondsPerHash 0): frames hashed per second at
 *     720p and 1080p, on one core and on all cores.
 * "One core" runs are pinned to a single CPU with sched_setaffinity, so the
 * decoder, the hashing thread and the digest thread share it, as on a
 * one-core phone.  Wall and CPU seconds are both printed; ratios compare
 * medians of the same run.  Asserts nothing. */
#include <errno.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include <sitr/video.h>

#define MAX_RUNS 16

extern char **environ;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct sample {
    double wall, cpu;
    long frames; /* decoded (plain decode) or hashed (sitr) */
} sample_t;

/* ---- inputs ------------------------------------------------------------------ */

/* Runs ffmpeg to make a test video of the given size and length. */
static int make_video(const char *out, const char *size, const char *seconds)
{
    const char *photo = SITR_SHARED_DIR "/testdata/pdq/bridge-mods/aaa-orig.jpg";
    if (access(photo, R_OK) != 0) {
        fprintf(stderr,
                "bench-video: cannot read %s: the extended corpus (../shared/testdata/pdq) is "
                "not present; name video files instead\n",
                photo);
        return -1;
    }
    char vf[1024];
    snprintf(vf, sizeof(vf),
             "scale=3200:-2,zoompan=z='1.25+0.2*sin(on/97)':x='(iw-iw/zoom)/2+(iw-iw/zoom)/"
             "2*sin(on/151)':y='(ih-ih/zoom)/2+(ih-ih/zoom)/2*cos(on/173)':d=1:s=%s:fps=30,"
             "noise=alls=6:allf=t,format=yuv420p",
             size);
    const char *argv[] = {"ffmpeg", "-hide_banner", "-loglevel", "error", "-y",      "-loop",
                          "1",      "-framerate",   "30",        "-i",    photo,     "-vf",
                          vf,       "-t",           seconds,     "-c:v",  "libx264", "-preset",
                          "medium", "-an",          out,         NULL};
    fprintf(stderr, "bench-video: making %s (%s, %s s) with ffmpeg; this takes minutes\n", out,
            size, seconds);
    pid_t pid;
    int e = posix_spawnp(&pid, "ffmpeg", NULL, NULL, (char *const *)argv, environ);
    if (e != 0) {
        fprintf(stderr, "bench-video: cannot run ffmpeg: %s\n", strerror(e));
        return -1;
    }
    int ws;
    if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "bench-video: ffmpeg failed\n");
        unlink(out);
        return -1;
    }
    return 0;
}

static int ensure_video(const char *path, const char *size, const char *seconds)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0)
        return 0;
    return make_video(path, size, seconds);
}

/* ---- the floor: plain decode ------------------------------------------------- */

static int plain_decode(const char *path, int threads, sample_t *s)
{
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    int rc = -1;
    long frames = 0;
    if (pkt == NULL || fr == NULL || avformat_open_input(&fmt, path, NULL, NULL) < 0 ||
        avformat_find_stream_info(fmt, NULL) < 0)
        goto out;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (si < 0)
        goto out;
    const AVCodec *codec = avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
    if (codec == NULL || (dec = avcodec_alloc_context3(codec)) == NULL ||
        avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar) < 0)
        goto out;
    dec->thread_count = threads;
    dec->thread_type = threads > 1 ? FF_THREAD_FRAME | FF_THREAD_SLICE : 0;
    if (avcodec_open2(dec, codec, NULL) < 0)
        goto out;
    int eof = 0;
    while (!eof) {
        int r = av_read_frame(fmt, pkt);
        if (r < 0) {
            eof = 1;
            avcodec_send_packet(dec, NULL); /* drain */
        } else if (pkt->stream_index == si) {
            avcodec_send_packet(dec, pkt);
        }
        av_packet_unref(pkt);
        while (avcodec_receive_frame(dec, fr) == 0) {
            frames++;
            av_frame_unref(fr);
        }
    }
    rc = 0;
out:
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    s->wall = clock_s(CLOCK_MONOTONIC) - w0;
    s->cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    s->frames = frames;
    return rc;
}

/* ---- sitr -------------------------------------------------------------------- */

static int sitr_hash(const char *path, double seconds_per_hash, int threads, sample_t *s)
{
    sitr_video_options_t opt;
    sitr_video_options_default(&opt);
    opt.seconds_per_hash = seconds_per_hash;
    opt.threads = threads;
    sitr_video_t *v = NULL;
    sitr_err_t err = {0};
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    int rc = sitr_video_hash_file(path, &opt, &v, &err);
    s->wall = clock_s(CLOCK_MONOTONIC) - w0;
    s->cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (rc < 0) {
        fprintf(stderr, "bench-video: %s: %s\n", path, err.msg);
        return -1;
    }
    s->frames = (long)v->count;
    sitr_video_free(v);
    return 0;
}

/* ---- CPU pinning ------------------------------------------------------------- */

static cpu_set_t all_cpus;

/* one: pin the process (and the threads it starts later) to its first
 * allowed CPU; 0: give back every CPU it had. */
static void pin(int one)
{
    if (!one) {
        sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &all_cpus)) {
            CPU_SET(c, &set);
            break;
        }
    }
    sched_setaffinity(0, sizeof(set), &set);
}

/* ---- report ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const sample_t *s, int n, int cpu)
{
    double v[MAX_RUNS];
    for (int i = 0; i < n; i++)
        v[i] = cpu ? s[i].cpu : s[i].wall;
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void row(const char *label, const sample_t *s, int n)
{
    printf("  %-44s %8.2f %8.2f %8ld\n", label, median(s, n, 0), median(s, n, 1), s[0].frames);
}

static void print_machine(void)
{
    struct utsname u;
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p != NULL) {
                    snprintf(model, sizeof(model), "%s", p + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    uname(&u);
    printf("bench-video  %s  %s %s  %s  %d CPUs (%ld online)  FFmpeg %s\n", date, u.sysname,
           u.machine, model, CPU_COUNT(&all_cpus), sysconf(_SC_NPROCESSORS_ONLN),
           av_version_info());
}

int main(int argc, char **argv)
{
    int runs = 3;
    const char *in1080 = NULL, *in720 = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (in1080 == NULL)
            in1080 = argv[i];
        else if (in720 == NULL)
            in720 = argv[i];
        else {
            fprintf(stderr, "usage: bench-video [--runs N] [VIDEO_1080P [VIDEO_720P]]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench-video: --runs wants 1..%d\n", MAX_RUNS);
        return 2;
    }
    av_log_set_level(AV_LOG_ERROR);
    sched_getaffinity(0, sizeof(all_cpus), &all_cpus);
    const char *dir = SITR_SOURCE_DIR "/var/bench";
    char def1080[512], def720[512];
    snprintf(def1080, sizeof(def1080), "%s/bench-1080p-60s.mp4", dir);
    snprintf(def720, sizeof(def720), "%s/bench-720p-20s.mp4", dir);
    if (in1080 == NULL || in720 == NULL) {
        mkdir(SITR_SOURCE_DIR "/var", 0755);
        mkdir(dir, 0755);
    }
    if (in1080 == NULL) {
        in1080 = def1080;
        if (ensure_video(in1080, "1920x1080", "60") < 0)
            return 1;
    }
    if (in720 == NULL) {
        in720 = def720;
        if (ensure_video(in720, "1280x720", "20") < 0)
            return 1;
    }

    print_machine();
    printf("input %s, %d runs, medians\n\n", in1080, runs);

    /* secondsPerHash 1, interleaved: decode and hash alternate in each
     * round so a burst of outside load hits both. */
    sample_t d1[MAX_RUNS], h1[MAX_RUNS], d2[MAX_RUNS], h2[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        pin(1);
        if (plain_decode(in1080, 1, &d1[r]) < 0 || sitr_hash(in1080, 1.0, 1, &h1[r]) < 0)
            return 1;
        pin(0);
        if (plain_decode(in1080, 2, &d2[r]) < 0 || sitr_hash(in1080, 1.0, 2, &h2[r]) < 0)
            return 1;
        fprintf(stderr, "bench-video: round %d/%d done\n", r + 1, runs);
    }
    printf("1080p, secondsPerHash 1                          wall s    CPU s   frames\n");
    row("plain decode, 1 core (1 decoder thread)", d1, runs);
    row("sitr, 1 core (1 hashing thread)", h1, runs);
    row("plain decode, 2 decoder threads", d2, runs);
    row("sitr, 2 hashing threads", h2, runs);
    double wd1 = median(d1, runs, 0), wh1 = median(h1, runs, 0);
    double wd2 = median(d2, runs, 0), wh2 = median(h2, runs, 0);
    double cd1 = median(d1, runs, 1), ch1 = median(h1, runs, 1);
    double cd2 = median(d2, runs, 1), ch2 = median(h2, runs, 1);
    printf("  sitr 1 core / plain decode 1 core:   %.2fx wall, %.2fx CPU (target <= 1.2x)\n",
           wh1 / wd1, ch1 / cd1);
    printf("  sitr 2 threads / plain decode 2:     %.2fx wall, %.2fx CPU\n", wh2 / wd2, ch2 / cd2);
    printf("  speed-up sitr 1 core -> 2 threads:   %.2fx wall (target near 2x); plain decode "
           "1 -> 2 threads: %.2fx\n",
           wh1 / wh2, wd1 / wd2);
    printf("  decoded frames per second, plain 1 core: %.0f wall, %.0f per CPU second\n\n",
           (double)d1[0].frames / wd1, (double)d1[0].frames / cd1);

    /* Every frame: frames hashed per second. */
    printf("every frame (secondsPerHash 0)                   wall s    CPU s   frames  frames/s"
           "  per CPU-s\n");
    const struct {
        const char *label, *path;
        int one_core, threads;
    } ef[] = {
        {"720p, 1 core", in720, 1, 1},
        {"720p, all cores", in720, 0, 0},
        {"1080p, 1 core", in1080, 1, 1},
        {"1080p, all cores", in1080, 0, 0},
    };
    for (size_t i = 0; i < sizeof(ef) / sizeof(ef[0]); i++) {
        sample_t s;
        pin(ef[i].one_core);
        if (sitr_hash(ef[i].path, 0.0, ef[i].threads, &s) < 0)
            return 1;
        printf("  %-44s %8.2f %8.2f %8ld %9.1f %10.1f\n", ef[i].label, s.wall, s.cpu, s.frames,
               (double)s.frames / s.wall, (double)s.frames / s.cpu);
    }
    pin(0);
    return 0;
}
