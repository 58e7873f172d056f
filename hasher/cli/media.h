/* Telling videos from images by their first bytes, for `sitr hash` and
 * `sitr case`: the name of a file (its extension) never decides. */
#ifndef SITR_CLI_MEDIA_H
#define SITR_CLI_MEDIA_H

#include <stddef.h>

#include "walk.h"

/* Bytes read from the start of a file to recognise it (enough for every
 * container sitr_video_sniff knows, MPEG-TS included). */
#define SITR_MEDIA_HEAD_BYTES 512

/* 1 when the file at path starts like a video container sitr can hash
 * (sitr_video_sniff), 0 otherwise -- also when it cannot be read: the
 * image decoder then reports the problem in the file's place. */
int sitr_media_is_video(const char *path);

/* Marks which entries of files are videos: kinds[i] = 1 for a video,
 * 0 for anything else (entries with a walk error are never videos).
 * kinds holds files->n bytes.  Returns the number of videos. */
size_t sitr_media_classify(const sitr_walk_list_t *files, unsigned char *kinds);

#endif
