/* Recognising videos by content (contract in media.h).
 *
 * Reads at most SITR_MEDIA_HEAD_BYTES from each file on the calling thread,
 * before any hashing starts; the decision is sitr_video_sniff's, so the CLI
 * and the library agree on what a video is. */
#include "media.h"

#include <stdio.h>

#include <sitr/video.h>

int sitr_media_is_video(const char *path)
{
    unsigned char head[SITR_MEDIA_HEAD_BYTES];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return sitr_video_sniff(head, n);
}

size_t sitr_media_classify(const sitr_walk_list_t *files, unsigned char *kinds)
{
    size_t videos = 0;
    for (size_t i = 0; i < files->n; i++) {
        const sitr_walk_entry_t *e = &files->v[i];
        kinds[i] = e->err == 0 && sitr_media_is_video(e->path) ? 1 : 0;
        videos += kinds[i];
    }
    return videos;
}
