/* Hashing image files and buffers: read the bytes, digest them (MD5,
 * SHA-256), decode to luma (decode.c), hash with the PDQ core.
 *
 * The file is read into memory by us, not by libvips, so that the limits
 * (regular file, size) are checked on the opened descriptor before a byte
 * is read, the digests cover exactly the bytes that were decoded, and
 * libvips never opens a path.  Every call is independent and thread-safe
 * once sitr_image_init has run. */
#include <sitr/image.h>

#include "decode_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sitr_image_limits_default(sitr_image_limits_t *lim)
{
    lim->max_file_bytes = SITR_IMAGE_DEFAULT_MAX_FILE_BYTES;
    lim->max_pixels = SITR_IMAGE_DEFAULT_MAX_PIXELS;
}

int sitr_image_init(const char *argv0)
{
    return sitr_decode_init(argv0);
}

void sitr_image_shutdown(void)
{
    sitr_decode_shutdown();
}

int sitr_image_hash_buffer(const void *data, size_t len, unsigned flags,
                           const sitr_image_limits_t *lim, sitr_image_t *out, sitr_err_t *err)
{
    sitr_image_limits_t defaults;
    if (lim == NULL) {
        sitr_image_limits_default(&defaults);
        lim = &defaults;
    }
    if (out == NULL || (data == NULL && len > 0) ||
        (flags & ~(unsigned)SITR_PDQ_WANT_DIHEDRAL) != 0)
        return sitr_err_set(err, SITR_EINVAL, "invalid argument to sitr_image_hash_buffer");
    if (len == 0)
        return sitr_err_set(err, SITR_EEMPTY, "empty file");
    if (len > lim->max_file_bytes)
        return sitr_err_set(err, SITR_ETOOBIG, "%zu bytes, more than the limit of %zu", len,
                            lim->max_file_bytes);

    memset(out, 0, sizeof(*out));
    sitr_digest_md5(data, len, out->md5);
    sitr_digest_sha256(data, len, out->sha256);

    sitr_luma_t luma;
    int rc = sitr_decode_luma(data, len, lim, &luma, err);
    if (rc < 0)
        return rc;
    out->width = luma.width;
    out->height = luma.height;
    rc = sitr_pdq_hash(luma.px, luma.rows, luma.cols, flags, &out->pdq);
    sitr_luma_free(&luma);
    if (rc < 0)
        return sitr_err_set(err, rc, "PDQ hashing failed: %s", sitr_strerror(rc));
    return 0;
}

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

/* Reads the whole regular file at path into a malloc'd buffer. */
static int read_file(const char *path, const sitr_image_limits_t *lim, uint8_t **data, size_t *len,
                     sitr_err_t *err)
{
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO must not hang; it is rejected below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return sitr_err_set(err, errno_code(e), "cannot open: %s", strerror(e));
    }
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        rc = sitr_err_set(err, errno_code(e), "cannot stat: %s", strerror(e));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = sitr_err_set(err, SITR_EISDIR, "is a directory");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sitr_err_set(err, SITR_EINVAL, "not a regular file");
        goto out;
    }
    if (st.st_size == 0) {
        rc = sitr_err_set(err, SITR_EEMPTY, "empty file");
        goto out;
    }
    if ((uintmax_t)st.st_size > (uintmax_t)lim->max_file_bytes) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "%jd bytes, more than the limit of %zu",
                          (intmax_t)st.st_size, lim->max_file_bytes);
        goto out;
    }
    size_t want = (size_t)st.st_size;
    uint8_t *buf = malloc(want);
    if (buf == NULL) {
        rc = sitr_err_set(err, SITR_ENOMEM, "out of memory for %zu bytes", want);
        goto out;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            rc = sitr_err_set(err, errno_code(e), "read failed: %s", strerror(e));
            break;
        }
        if (n == 0) {
            rc = sitr_err_set(err, SITR_EIO, "file shrank while being read");
            break;
        }
        got += (size_t)n;
    }
    if (rc < 0) {
        free(buf);
        goto out;
    }
    *data = buf;
    *len = want;
out:
    close(fd);
    return rc;
}

int sitr_image_hash_file(const char *path, unsigned flags, const sitr_image_limits_t *lim,
                         sitr_image_t *out, sitr_err_t *err)
{
    sitr_image_limits_t defaults;
    if (lim == NULL) {
        sitr_image_limits_default(&defaults);
        lim = &defaults;
    }
    if (path == NULL || out == NULL)
        return sitr_err_set(err, SITR_EINVAL, "invalid argument to sitr_image_hash_file");
    uint8_t *data;
    size_t len;
    int rc = read_file(path, lim, &data, &len, err);
    if (rc < 0)
        return rc;
    rc = sitr_image_hash_buffer(data, len, flags, lim, out, err);
    free(data);
    return rc;
}
