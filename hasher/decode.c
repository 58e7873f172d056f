/* The image front-end: encoded bytes -> float luma, on libvips, following
 * shared/testdata/pdq/SPEC.md §2 so that the PDQ core sees exactly the
 * luma Meta's reference (ImageMagick -> PNM -> CImg) would give it.
 * sitr_decode_luma first offers JPEG to the libjpeg-turbo fast path
 * (jpeg.c), which gives the same pixels faster; what it declines, and
 * every other format, takes the libvips path below.
 *
 * Pipeline, all in the calling thread (libvips concurrency is 1; sitr
 * parallelises across files):
 *   1. sniff the format; only JPEG, PNG, WebP, GIF, TIFF and HEIF/AVIF
 *      loaders are allowed (everything else is blocked in libvips too);
 *   2. read the header only and check width x height against the limit
 *      before any pixel is decoded;
 *   3. pull the image top to bottom in strips (sequential access, loader
 *      fail_on=error so truncation and corruption are errors, never a
 *      hash), and while the rows go by
 *        - look for a pixel with R != G != B (the reference takes the grey
 *          path only when every pixel of the full image is grey),
 *        - copy the pixels the 512x512 nearest-neighbour pre-scale samples
 *          into a small 8-bit buffer (rows and columns floor(i*N/512));
 *      nothing else of the decoded image is kept;
 *   4. turn that buffer into float luma: grey value as is, or
 *      Y = (cR*R + cG*G) + cB*B in float32.
 *
 * Deliberate differences from the reference, documented in SPEC.md §2.1:
 * 16-bit samples are reduced to 8 bits by taking the high byte (the
 * reference keeps the low byte, which turns genuine 16-bit images into
 * noise); unreadable files are errors, not an all-zero hash; images
 * smaller than 5x5 are SITR_ETOOSMALL instead of an all-zero hash.
 * Alpha is dropped without compositing, EXIF orientation is ignored, ICC
 * profiles are ignored, CMYK uses ImageMagick 6's Q16 arithmetic, exactly
 * as the reference does. */
#include "decode_int.h"

#include <assert.h>
#include <glib.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#define PRESCALE 512
#define MIN_SIDE 5
/* Bands per pixel of the pixel limit (CMYK + alpha); see the band check. */
#define MAX_BANDS 5
/* Rows pulled per strip: libvips' JPEG loader works in strips of 8 or 16
 * rows and taller requests only add copying (measured on a 12 MP JPEG:
 * 16 rows 56 ms, 86 rows 61 ms, 1024 rows 89 ms).  Very wide images get
 * fewer rows so that a strip stays under STRIP_BYTES. */
#define STRIP_ROWS  16
#define STRIP_BYTES ((size_t)4 << 20)

/* The loaders sitr accepts (libvips class names and their subclasses).
 * Everything else, in particular the "untrusted" loaders (SVG, PDF,
 * ImageMagick, FITS, ...), is blocked. */
static const char *const allowed_loaders[] = {
    "VipsForeignLoadJpeg",  "VipsForeignLoadPng",  "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif", "VipsForeignLoadTiff", "VipsForeignLoadHeif",
};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_state; /* 0 not yet, 1 ok, <0 failed (sticky), 2 shut down */

/* libvips reports recoverable decoder warnings through g_warning in its
 * own log domain; the library must never print, and a warning that
 * matters (truncation) already turns into an error through fail_on. */
static void quiet_log_cb(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer user)
{
    (void)domain;
    (void)level;
    (void)msg;
    (void)user;
}

int sitr_decode_init(const char *argv0)
{
    pthread_mutex_lock(&init_lock);
    if (init_state == 0) {
        if (VIPS_INIT(argv0 != NULL ? argv0 : "sitr") != 0) {
            init_state = SITR_EINTERNAL;
        } else {
            g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, quiet_log_cb,
                              NULL);
            vips_block_untrusted_set(TRUE);
            vips_operation_block_set("VipsForeignLoad", TRUE);
            for (size_t i = 0; i < sizeof(allowed_loaders) / sizeof(allowed_loaders[0]); i++)
                vips_operation_block_set(allowed_loaders[i], FALSE);
            /* Cached operations would keep decoded pixels of one victim's
             * image alive after the call, and cost memory for nothing:
             * every file is decoded once. */
            vips_cache_set_max(0);
            vips_cache_set_max_mem(0);
            vips_concurrency_set(1);
            init_state = 1;
        }
    }
    int rc = init_state == 1 ? 0 : SITR_EINTERNAL;
    pthread_mutex_unlock(&init_lock);
    return rc;
}

void sitr_decode_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    if (init_state == 1) {
        vips_shutdown();
        init_state = 2;
    }
    pthread_mutex_unlock(&init_lock);
}

void sitr_luma_free(sitr_luma_t *l)
{
    if (l == NULL)
        return;
    free(l->px);
    free(l->pix);
    l->px = NULL;
    l->pix = NULL;
}

/* Fills err with code, msg and the first line of libvips' error buffer.
 * The buffer is process-wide, so under concurrency the detail may belong to
 * another thread's failure; it is a hint for humans, the code is exact. */
static int vips_fail(sitr_err_t *err, int code, const char *msg)
{
    char *detail = vips_error_buffer_copy();
    if (detail != NULL) {
        char *nl = strchr(detail, '\n');
        if (nl != NULL)
            *nl = '\0';
    }
    if (detail != NULL && detail[0] != '\0')
        sitr_err_set(err, code, "%s (%s)", msg, detail);
    else
        sitr_err_set(err, code, "%s", msg);
    g_free(detail);
    return code;
}

static int loader_allowed(const char *name)
{
    for (size_t i = 0; i < sizeof(allowed_loaders) / sizeof(allowed_loaders[0]); i++) {
        size_t n = strlen(allowed_loaders[i]);
        if (strncmp(name, allowed_loaders[i], n) == 0)
            return 1;
    }
    return 0;
}

enum kind { KIND_GREY, KIND_RGB, KIND_CMYK };

/* State of one conversion: the source layout, the sampling grid and the
 * small 8-bit buffer of sampled pixels. */
typedef struct conv {
    enum kind kind;
    int bands;   /* bands of the source pixels (alpha included) */
    int sixteen; /* samples are uint16 rather than uint8 */
    int width, height;
    int ow, oh;      /* output (luma) size */
    int nch;         /* channels kept per sampled pixel: 1 or 3 */
    uint32_t *xs;    /* source column of each output column */
    uint8_t *s8;     /* oh * ow * nch sampled pixels */
    int colour_seen; /* some pixel has R, G, B not all equal */
} conv_t;

/* ImageMagick 6 (Q16, no HDRI) CMYK -> RGB for one channel: with the ink
 * values c and k scaled to 16 bits, R = QR - (c*(QR-k)/QR + k) rounded to
 * a quantum, which is exactly (QR-c)*(QR-k)/QR rounded (the quotient never
 * lands on .5 because QR is odd).  a and b are QR-c and QR-k. */
static inline unsigned cmyk_channel16(unsigned a, unsigned b)
{
    return (unsigned)(((uint64_t)a * b * 2 + 65535) / 131070);
}

/* ImageMagick's ScaleQuantumToChar for Q16: round(q / 257), in integers. */
static inline uint8_t q16_to_u8(unsigned q)
{
    return (uint8_t)(((q + 128) - ((q + 128) >> 8)) >> 8);
}

/* Sample b of pixel x of a source row, at 16-bit precision (8-bit samples
 * scaled by 257, as ImageMagick's quantum does). */
static inline unsigned sample16(const conv_t *cv, const uint8_t *row, size_t x, int b)
{
    size_t i = x * (size_t)cv->bands + (size_t)b;
    if (cv->sixteen) {
        uint16_t v;
        memcpy(&v, row + 2 * i, sizeof v);
        return v;
    }
    return row[i] * 257u;
}

/* Pixel x as 16-bit R, G, B (KIND_RGB or KIND_CMYK). */
static inline void rgb16(const conv_t *cv, const uint8_t *row, size_t x, unsigned rgb[3])
{
    if (cv->kind == KIND_CMYK) {
        /* libvips' CMYK samples are ink values as ImageMagick sees them:
         * TIFF stores ink, and libvips' JPEG loader inverts every CMYK
         * JPEG (Adobe marker or not), as ImageMagick's JPEG coder does. */
        unsigned ink[4];
        for (int b = 0; b < 4; b++)
            ink[b] = sample16(cv, row, x, b);
        for (int b = 0; b < 3; b++)
            rgb[b] = cmyk_channel16(65535u - ink[b], 65535u - ink[3]);
        return;
    }
    for (int b = 0; b < 3; b++)
        rgb[b] = sample16(cv, row, x, b);
}

/* 16 -> 8 bits.  CMYK results are ImageMagick quanta written to an 8-bit
 * PNM (rounded); true 16-bit samples keep their high byte, which is what
 * libvips and most tools do (the reference keeps the low byte: a bug). */
static inline uint8_t to8(const conv_t *cv, unsigned v16)
{
    if (cv->kind == KIND_CMYK)
        return q16_to_u8(v16);
    return (uint8_t)(v16 >> 8);
}

static int row_has_colour(const conv_t *cv, const uint8_t *row)
{
    if (cv->kind == KIND_RGB && !cv->sixteen) {
        /* The common case, kept simple enough for the compiler. */
        const size_t nb = (size_t)cv->bands;
        for (size_t x = 0, i = 0; x < (size_t)cv->width; x++, i += nb)
            if (row[i] != row[i + 1] || row[i] != row[i + 2])
                return 1;
        return 0;
    }
    for (size_t x = 0; x < (size_t)cv->width; x++) {
        unsigned c[3];
        rgb16(cv, row, x, c);
        if (c[0] != c[1] || c[0] != c[2])
            return 1;
    }
    return 0;
}

/* Writes the ow sampled pixels of one source row into dst (ow * nch). */
static void sample_row(const conv_t *cv, const uint8_t *row, uint8_t *dst)
{
    if (cv->kind == KIND_GREY) {
        for (int x = 0; x < cv->ow; x++)
            dst[x] = (uint8_t)(sample16(cv, row, cv->xs[x], 0) >> 8);
        return;
    }
    for (int x = 0; x < cv->ow; x++) {
        unsigned c[3];
        rgb16(cv, row, cv->xs[x], c);
        for (int b = 0; b < 3; b++)
            dst[3 * x + b] = to8(cv, c[b]);
    }
}

/* Pulls every row of img top to bottom, sampling as it goes. */
static int pull_rows(VipsImage *img, conv_t *cv, sitr_err_t *err)
{
    size_t row_bytes = VIPS_IMAGE_SIZEOF_LINE(img);
    int strip = STRIP_ROWS;
    if (row_bytes > 0 && row_bytes * STRIP_ROWS > STRIP_BYTES)
        strip = (int)(STRIP_BYTES / row_bytes);
    if (strip < 1)
        strip = 1;

    VipsRegion *reg = vips_region_new(img);
    if (reg == NULL)
        return vips_fail(err, SITR_ENOMEM, "cannot allocate a pixel region");

    int rc = 0;
    int y_out = 0; /* next output row to fill */
    const size_t out_row = (size_t)cv->ow * (size_t)cv->nch;
    for (int top = 0; top < cv->height && rc == 0; top += strip) {
        VipsRect r = {
            .left = 0, .top = top, .width = cv->width, .height = VIPS_MIN(strip, cv->height - top)};
        if (vips_region_prepare(reg, &r) != 0) {
            rc = vips_fail(err, SITR_ECORRUPT, "corrupt or truncated image data");
            break;
        }
        for (int y = top; y < top + r.height; y++) {
            const uint8_t *row = (const uint8_t *)VIPS_REGION_ADDR(reg, 0, y);
            if (cv->kind != KIND_GREY && !cv->colour_seen)
                cv->colour_seen = row_has_colour(cv, row);
            int first = 1;
            while (y_out < cv->oh) {
                int src =
                    cv->oh == cv->height
                        ? y_out
                        : (int)sitr_decode_prescale_src((uint32_t)y_out, (uint32_t)cv->height);
                if (src != y)
                    break;
                uint8_t *dst = cv->s8 + (size_t)y_out * out_row;
                if (first)
                    sample_row(cv, row, dst);
                else
                    memcpy(dst, dst - out_row, out_row);
                first = 0;
                y_out++;
            }
        }
    }
    g_object_unref(reg);
    if (rc == 0 && y_out != cv->oh)
        rc = sitr_err_set(err, SITR_EINTERNAL, "pre-scale sampled %d of %d rows", y_out, cv->oh);
    return rc;
}

/* §2.3: grey value as is, or the float32 weighted sum in the reference's
 * order.  -ffp-contract=off keeps the products and sums separately
 * rounded; the temporaries make the order explicit. */
void sitr_decode_to_luma(const uint8_t *pix, int nch, int grey, size_t n, float *out)
{
    if (nch == 1) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)pix[i];
        return;
    }
    if (grey) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)pix[3 * i];
        return;
    }
    const float cr = 0.299f, cg = 0.587f, cb = 0.114f;
    for (size_t i = 0; i < n; i++) {
        float r = (float)pix[3 * i] * cr;
        float g = (float)pix[3 * i + 1] * cg;
        float b = (float)pix[3 * i + 2] * cb;
        float rg = r + g;
        out[i] = rg + b;
    }
}

/* Brings img to uint8 or uint16 samples in a colour space whose bands
 * mean grey(+alpha), RGB(+alpha) or CMYK(+alpha).  Takes over *img. */
static int normalise(VipsImage **img, sitr_err_t *err)
{
    VipsImage *in = *img, *t = NULL;
    VipsInterpretation interp = vips_image_guess_interpretation(in);
    VipsBandFormat fmt = vips_image_get_format(in);

    if (in->Coding != VIPS_CODING_NONE || vips_band_format_iscomplex(fmt))
        return sitr_err_set(err, SITR_EFORMAT, "unsupported pixel coding");

    switch (interp) {
    case VIPS_INTERPRETATION_LAB:
    case VIPS_INTERPRETATION_LABS:
    case VIPS_INTERPRETATION_LCH:
    case VIPS_INTERPRETATION_CMC:
    case VIPS_INTERPRETATION_XYZ:
    case VIPS_INTERPRETATION_YXY:
    case VIPS_INTERPRETATION_HSV:
    case VIPS_INTERPRETATION_scRGB:
        /* Rare (TIFF only); libvips' own colour arithmetic, no ICC. */
        if (vips_colourspace(in, &t, VIPS_INTERPRETATION_sRGB, NULL) != 0)
            return vips_fail(err, SITR_EFORMAT, "unsupported colour space");
        g_object_unref(in);
        in = *img = t;
        fmt = vips_image_get_format(in);
        break;
    default:
        break;
    }

    if (fmt == VIPS_FORMAT_UINT || fmt == VIPS_FORMAT_INT) {
        /* 32-bit integers: keep the top byte, like the 16-bit case. */
        if (vips_rshift_const1(in, &t, 24, NULL) != 0)
            return vips_fail(err, SITR_EFORMAT, "cannot convert 32-bit samples");
        g_object_unref(in);
        in = *img = t;
    }
    if (fmt != VIPS_FORMAT_UCHAR && fmt != VIPS_FORMAT_USHORT) {
        /* Signed and float samples: clamped to 0..255 (float images are
         * taken in libvips' 0..255 convention). */
        if (vips_cast(in, &t, VIPS_FORMAT_UCHAR, NULL) != 0)
            return vips_fail(err, SITR_EFORMAT, "cannot convert samples to 8 bits");
        g_object_unref(in);
        in = *img = t;
    }
    return 0;
}

int sitr_decode_luma(const void *data, size_t len, const sitr_image_limits_t *lim, sitr_luma_t *out,
                     sitr_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (data == NULL || len == 0)
        return sitr_err_set(err, SITR_EEMPTY, "empty input");
    if (init_state != 1)
        return sitr_err_set(err, SITR_EINTERNAL, "sitr_image_init was not called");
    int rc = sitr_decode_luma_jpeg(data, len, lim, out, err);
    if (rc != SITR_DECODE_DECLINED)
        return rc;
    return sitr_decode_luma_vips(data, len, lim, out, err);
}

int sitr_decode_luma_vips(const void *data, size_t len, const sitr_image_limits_t *lim,
                          sitr_luma_t *out, sitr_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (data == NULL || len == 0)
        return sitr_err_set(err, SITR_EEMPTY, "empty input");
    if (init_state != 1)
        return sitr_err_set(err, SITR_EINTERNAL, "sitr_image_init was not called");

    const char *loader = vips_foreign_find_load_buffer(data, len);
    if (loader == NULL) {
        vips_error_clear();
        return sitr_err_set(err, SITR_EFORMAT, "not a recognised image format");
    }
    if (!loader_allowed(loader))
        return sitr_err_set(err, SITR_EFORMAT, "image format not accepted (%s)", loader);

    VipsImage *img = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                                "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (img == NULL)
        return vips_fail(err, SITR_ECORRUPT, "cannot read the image header");

    int rc = 0;
    conv_t cv = {0};
    cv.width = vips_image_get_width(img);
    cv.height = vips_image_get_height(img);
    if (cv.width <= 0 || cv.height <= 0) {
        rc = sitr_err_set(err, SITR_ECORRUPT, "image has no pixels");
        goto done;
    }
    if ((uint64_t)cv.width * (uint64_t)cv.height > lim->max_pixels) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "image is %dx%d, more than %llu pixels", cv.width,
                          cv.height, (unsigned long long)lim->max_pixels);
        goto done;
    }
    /* TIFF allows thousands of bands per pixel, nearly free in a deflated
     * file; every one is decoded and sits in the row buffers.  The pixel
     * limit is meant to bound that work, so the samples are held to what
     * max_pixels of CMYK + alpha (5 bands) would need. */
    int bands = vips_image_get_bands(img);
    uint64_t px = (uint64_t)cv.width * (uint64_t)cv.height; /* <= max_pixels here */
    uint64_t max_samples =
        lim->max_pixels > UINT64_MAX / MAX_BANDS ? UINT64_MAX : lim->max_pixels * MAX_BANDS;
    if (bands > MAX_BANDS &&
        (px > UINT64_MAX / (uint64_t)bands || px * (uint64_t)bands > max_samples)) {
        rc = sitr_err_set(err, SITR_ETOOBIG, "image is %dx%d with %d bands, more than %llu samples",
                          cv.width, cv.height, bands, (unsigned long long)max_samples);
        goto done;
    }
    if (cv.width < MIN_SIDE || cv.height < MIN_SIDE) {
        rc = sitr_err_set(err, SITR_ETOOSMALL, "image is %dx%d, PDQ needs at least %dx%d", cv.width,
                          cv.height, MIN_SIDE, MIN_SIDE);
        goto done;
    }
    int is_cmyk = vips_image_guess_interpretation(img) == VIPS_INTERPRETATION_CMYK;
    rc = normalise(&img, err);
    if (rc < 0)
        goto done;

    cv.bands = vips_image_get_bands(img);
    cv.sixteen = vips_image_get_format(img) == VIPS_FORMAT_USHORT;
    if (is_cmyk && cv.bands >= 4) {
        cv.kind = KIND_CMYK;
    } else if (cv.bands >= 3) {
        cv.kind = KIND_RGB;
    } else {
        cv.kind = KIND_GREY;
    }
    cv.nch = cv.kind == KIND_GREY ? 1 : 3;
    int big = cv.width > PRESCALE || cv.height > PRESCALE;
    cv.ow = big ? PRESCALE : cv.width;
    cv.oh = big ? PRESCALE : cv.height;

    cv.xs = malloc((size_t)cv.ow * sizeof(*cv.xs));
    cv.s8 = malloc((size_t)cv.ow * (size_t)cv.oh * (size_t)cv.nch);
    out->px = malloc((size_t)cv.ow * (size_t)cv.oh * sizeof(float));
    if (cv.xs == NULL || cv.s8 == NULL || out->px == NULL) {
        rc = sitr_err_set(err, SITR_ENOMEM, "out of memory for %dx%d luma", cv.ow, cv.oh);
        goto done;
    }
    for (int x = 0; x < cv.ow; x++)
        cv.xs[x] = big ? sitr_decode_prescale_src((uint32_t)x, (uint32_t)cv.width) : (uint32_t)x;

    rc = pull_rows(img, &cv, err);
    if (rc < 0)
        goto done;

    out->grey = cv.kind == KIND_GREY || !cv.colour_seen;
    sitr_decode_to_luma(cv.s8, cv.nch, out->grey, (size_t)cv.ow * (size_t)cv.oh, out->px);
    out->pix = cv.s8;
    out->nch = cv.nch;
    cv.s8 = NULL;
    out->rows = cv.oh;
    out->cols = cv.ow;
    out->width = cv.width;
    out->height = cv.height;

done:
    free(cv.xs);
    free(cv.s8);
    if (rc < 0) {
        free(out->px);
        out->px = NULL;
    }
    g_object_unref(img);
    return rc;
}
