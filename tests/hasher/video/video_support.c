/* Helpers of the video tests (see video_support.h). */
#include "video_support.h"

#include <dirent.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

int vref_load(const char *path, vref_line_t **lines)
{
    FILE *f = fopen(path, "r");
    *lines = NULL;
    if (f == NULL)
        return -1;
    size_t n = 0, cap = 0;
    vref_line_t *v = NULL;
    char buf[512];
    while (fgets(buf, sizeof(buf), f) != NULL) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = realloc(v, cap * sizeof(*v));
            assert_non_null(v);
        }
        vref_line_t *l = &v[n];
        long long num;
        int q;
        char hex[80];
        if (sscanf(buf, "%lld,%d,%70[0-9a-f],", &num, &q, hex) != 3 || strlen(hex) != 64 ||
            sitr_pdq_from_hex(hex, 64, &l->hash) != 0 || strlen(buf) >= sizeof(l->text)) {
            free(v);
            fclose(f);
            return -1;
        }
        l->n = num;
        l->quality = q;
        strcpy(l->text, buf);
        n++;
    }
    fclose(f);
    *lines = v;
    return (int)n;
}

const char *vdata_dir(void)
{
    return SITR_SOURCE_DIR "/tests/data/vpdq";
}

const char *vext_dir(void)
{
    return SITR_SHARED_DIR "/testdata/vpdq";
}

int vext_present(void)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/videos/chair-19-sd-bar.mp4", vext_dir());
    FILE *f = fopen(p, "rb");
    if (f == NULL)
        return 0;
    fclose(f);
    return 1;
}

sitr_video_t *vhash(const char *path, double sph, int threads, unsigned flags)
{
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    o.seconds_per_hash = sph;
    o.threads = threads;
    o.flags = flags;
    sitr_video_t *v = NULL;
    sitr_err_t err = {0};
    int rc = sitr_video_hash_file(path, &o, &v, &err);
    if (rc != 0)
        print_error("%s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(v);
    return v;
}

void vtmp_make(char dir[256])
{
    snprintf(dir, 256, "/tmp/sitr-video-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

void vtmp_remove(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int vffmpeg(const char *fmt, ...)
{
    char args[4096], cmd[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -y %s", args);
    return system(cmd);
}

uint8_t *vread_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

void vwrite_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t vlist_videos(const char *dir, char ***names)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/videos", dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    size_t n = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".mp4") != 0)
            continue;
        v = realloc(v, (n + 1) * sizeof(*v));
        assert_non_null(v);
        v[n] = strndup(e->d_name, l - 4);
        n++;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), cmp_names);
    *names = v;
    return n;
}
