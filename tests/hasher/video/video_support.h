/* Shared helpers of the video tests: reference hash files, paths to the
 * vendored and shared corpora, derived videos made with the ffmpeg program
 * in a temporary folder (tests only; the library never runs it). */
#ifndef SITR_TEST_VIDEO_SUPPORT_H
#define SITR_TEST_VIDEO_SUPPORT_H

#include <sitr/video.h>

#include <stddef.h>
#include <stdint.h>

/* One line of a reference hash file (SPEC.md §6). */
typedef struct vref_line {
    int64_t n;
    int quality;
    sitr_pdq_t hash;
    char text[SITR_VIDEO_LINE_MAX]; /* the whole line with its \n */
} vref_line_t;

/* Reads a hash file; returns the number of lines (>= 0) or -1 when it
 * cannot be read or is malformed.  *lines is malloc'd. */
int vref_load(const char *path, vref_line_t **lines);

/* The vendored subset (tests/data/vpdq) and the extended corpus
 * (SITR_SHARED_DIR/testdata/vpdq); vext_present says whether the latter
 * has its videos. */
const char *vdata_dir(void);
const char *vext_dir(void);
int vext_present(void);

/* Hashes path with secondsPerHash sph, threads and flags; asserts success. */
sitr_video_t *vhash(const char *path, double sph, int threads, unsigned flags);

/* A new temporary folder (the name is returned in dir[256]) and its removal. */
void vtmp_make(char dir[256]);
void vtmp_remove(const char *dir);

/* Runs "ffmpeg -nostdin -v error -y <args>" through the shell; returns its
 * exit status (0 on success). */
int vffmpeg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whole-file read (malloc'd) and write helpers. */
uint8_t *vread_file(const char *path, size_t *len);
void vwrite_file(const char *path, const void *data, size_t len);

/* Lists the *.mp4 basenames (without .mp4) of dir/videos, sorted;
 * returns their count, names malloc'd. */
size_t vlist_videos(const char *dir, char ***names);

#endif
