/* The bytes of a video: a regular file we opened ourselves (so the size
 * limit is checked on the descriptor before a byte is read, and libavformat
 * never sees a path or URL), or a memory buffer (the fuzz target).
 *
 * The demuxer reads through an AVIOContext whose callbacks call
 * sitr_vsrc_read_at; there is no way from it to any other file or
 * protocol.  MD5 and SHA-256 cover exactly the size bytes seen at open
 * time and are computed on a thread of their own with positional reads,
 * while the decoder runs: the demuxer seeks around (an MP4 index at the
 * end), so the bytes it reads are not the file in order. */
#include "video_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/mem.h>
#include <libavutil/md5.h>
#include <libavutil/sha.h>

#define AVIO_BUFFER  65536
#define DIGEST_CHUNK (1u << 20)

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return SITR_ENOENT;
    case ELOOP:
        return SITR_ELOOP;
    case EISDIR:
        return SITR_EISDIR;
    case ENOMEM:
        return SITR_ENOMEM;
    case EFBIG:
    case EOVERFLOW:
        return SITR_ETOOBIG;
    default:
        return SITR_EIO;
    }
}

int sitr_vsrc_open_file(sitr_vsrc_t *src, const char *path, uint64_t max_bytes, sitr_err_t *err)
{
    memset(src, 0, sizeof(*src));
    src->fd = -1;
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return sitr_err_set(err, errno_code(e), "cannot open: %s", strerror(e));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        rc = sitr_err_set(err, errno_code(e), "cannot stat: %s", strerror(e));
    } else if (S_ISDIR(st.st_mode)) {
        rc = sitr_err_set(err, SITR_EISDIR, "is a directory");
    } else if (!S_ISREG(st.st_mode)) {
        rc = sitr_err_set(err, SITR_EINVAL, "not a regular file");
    } else if (st.st_size == 0) {
        rc = sitr_err_set(err, SITR_EEMPTY, "empty file");
    } else if ((uint64_t)st.st_size > max_bytes) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "%jd bytes, more than the limit of %ju",
                          (intmax_t)st.st_size, (uintmax_t)max_bytes);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    src->fd = fd;
    src->size = (uint64_t)st.st_size;
    return 0;
}

int sitr_vsrc_open_memory(sitr_vsrc_t *src, const void *data, size_t len, uint64_t max_bytes,
                          sitr_err_t *err)
{
    memset(src, 0, sizeof(*src));
    src->fd = -1;
    if (len == 0)
        return sitr_err_set(err, SITR_EEMPTY, "empty input");
    if ((uint64_t)len > max_bytes)
        return sitr_err_set(err, SITR_ETOOBIG, "%zu bytes, more than the limit of %ju", len,
                            (uintmax_t)max_bytes);
    src->mem = data;
    src->size = len;
    return 0;
}

void sitr_vsrc_close(sitr_vsrc_t *src)
{
    if (src->fd >= 0)
        close(src->fd);
    src->fd = -1;
}

int64_t sitr_vsrc_read_at(const sitr_vsrc_t *src, uint64_t off, void *buf, size_t len)
{
    if (off >= src->size)
        return 0;
    if (len > src->size - off)
        len = (size_t)(src->size - off);
    if (src->fd < 0) {
        memcpy(buf, src->mem + off, len);
        return (int64_t)len;
    }
    for (;;) {
        ssize_t n = pread(src->fd, buf, len, (off_t)off);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

/* ---- AVIOContext over the source ---- */

typedef struct avio_state {
    sitr_vsrc_t *src;
    uint64_t pos;
} avio_state_t;

static int src_read(void *opaque, uint8_t *buf, int size)
{
    avio_state_t *s = opaque;
    if (size <= 0)
        return 0;
    int64_t n = sitr_vsrc_read_at(s->src, s->pos, buf, (size_t)size);
    if (n < 0)
        return AVERROR(EIO);
    if (n == 0)
        return AVERROR_EOF;
    s->pos += (uint64_t)n;
    return (int)n;
}

static int64_t src_seek(void *opaque, int64_t offset, int whence)
{
    avio_state_t *s = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)s->src->size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)s->pos;
        break;
    case SEEK_END:
        base = (int64_t)s->src->size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return AVERROR(EINVAL);
    s->pos = (uint64_t)(base + offset);
    return (int64_t)s->pos;
}

AVIOContext *sitr_vsrc_avio_new(sitr_vsrc_t *src)
{
    avio_state_t *s = av_mallocz(sizeof(*s));
    uint8_t *buf = av_malloc(AVIO_BUFFER);
    if (s == NULL || buf == NULL) {
        av_free(s);
        av_free(buf);
        return NULL;
    }
    s->src = src;
    AVIOContext *pb = avio_alloc_context(buf, AVIO_BUFFER, 0, s, src_read, NULL, src_seek);
    if (pb == NULL) {
        av_free(s);
        av_free(buf);
        return NULL;
    }
    return pb;
}

void sitr_vsrc_avio_free(AVIOContext **pb)
{
    if (*pb == NULL)
        return;
    av_free((*pb)->opaque);
    av_freep(&(*pb)->buffer); /* may have been replaced by libavformat */
    avio_context_free(pb);
}

/* ---- digests ---- */

static void *digest_main(void *arg)
{
    sitr_vdigest_t *d = arg;
    struct AVMD5 *md5 = av_md5_alloc();
    struct AVSHA *sha = av_sha_alloc();
    uint8_t *buf = malloc(DIGEST_CHUNK);
    if (md5 == NULL || sha == NULL || buf == NULL) {
        d->rc = SITR_ENOMEM;
        goto out;
    }
    av_md5_init(md5);
    av_sha_init(sha, 256);
    uint64_t off = 0;
    while (off < d->src->size) {
        if (d->cancel != NULL && *d->cancel) {
            d->rc = SITR_ECANCELED;
            goto out;
        }
        int64_t n = sitr_vsrc_read_at(d->src, off, buf, DIGEST_CHUNK);
        if (n <= 0) {
            /* An error, or the file shrank under us. */
            d->rc = SITR_EIO;
            goto out;
        }
        av_md5_update(md5, buf, (size_t)n);
        av_sha_update(sha, buf, (unsigned)n);
        off += (uint64_t)n;
    }
    av_md5_final(md5, d->md5);
    av_sha_final(sha, d->sha256);
    d->rc = 0;
out:
    free(buf);
    av_free(md5);
    av_free(sha);
    return NULL;
}

int sitr_vdigest_start(sitr_vdigest_t *d, const sitr_vsrc_t *src, const volatile int *cancel,
                       sitr_err_t *err)
{
    memset(d, 0, sizeof(*d));
    d->src = src;
    d->cancel = cancel;
    int e = pthread_create(&d->thread, NULL, digest_main, d);
    if (e != 0)
        return sitr_err_set(err, SITR_ENOMEM, "cannot start the digest thread: %s", strerror(e));
    d->started = 1;
    return 0;
}

int sitr_vdigest_join(sitr_vdigest_t *d)
{
    if (d->started) {
        pthread_join(d->thread, NULL);
        d->started = 0;
    }
    return d->rc;
}
