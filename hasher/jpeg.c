/* The JPEG fast path: encoded bytes -> float luma with libjpeg-turbo called
 * directly, giving exactly the pixels (and so the luma and hash) of the
 * libvips path in decode.c, in less time: libvips adds a region/strip layer
 * and colour-converts every row, this file converts only the rows it needs.
 *
 * Pixels: libjpeg defaults, as libvips and ImageMagick use them (SPEC.md
 * §2.1): integer "islow" IDCT, fancy upsampling, output RGB for YCbCr and
 * RGB files, grey for grey files, CMYK for CMYK/YCCK files, which are then
 * converted with ImageMagick's Q16 formula (decode_int.h).  The 512x512
 * nearest-neighbour pre-scale (§2.2) is done on the fly: only sampled rows
 * are kept, and only sampled pixels are copied.  Every row is still
 * decoded (entropy, IDCT, upsampling), because the grey-path test needs
 * R = G = B over the whole image and because corruption anywhere in the
 * file must be an error exactly as on the libvips path.  Once a colour
 * pixel has been seen, rows the pre-scale does not sample are passed with
 * jpeg_skip_scanlines, which then only skips their colour conversion; it
 * is used only where libjpeg-turbo 2.1 serves it by reading and
 * discarding rows inside the current iMCU row (see skip_ok), never for
 * its iMCU-row skipping, whose context-row handling has had bugs.
 *
 * Hardening and policy (the libvips path with fail_on=error is the
 * reference behaviour):
 *   - libjpeg errors longjmp out (custom error manager): SITR_ECORRUPT,
 *     or SITR_ETOOBIG for the memory limit;
 *   - reading past the end of the data is an error (libvips' source with
 *     fail_on >= truncated does the same), not libjpeg's fake EOI;
 *   - any libjpeg warning (corrupt-but-decodable data, e.g. extraneous
 *     bytes before a marker) makes the fast path decline the file, so that
 *     libvips decodes it under its own warning policy: the outcome of a
 *     warned-about file is by construction the libvips one;
 *   - width x height is checked against lim->max_pixels right after
 *     jpeg_read_header, before any buffer for pixels exists;
 *   - libjpeg's whole-image coefficient buffers (progressive and other
 *     multi-scan files: 128 bytes per 8x8 block of every component) are
 *     computed from the header and refused (SITR_ETOOBIG) beyond what a
 *     legal image of max_pixels can need, 2 bytes per pixel and component
 *     plus slack; the same budget goes to cinfo->mem->max_memory_to_use,
 *     which libjpeg-turbo 2.1's memory manager (jmemnobs) ignores but
 *     later versions enforce.  So memory is bounded by max_pixels;
 *   - more than MAX_SCANS scans (a progressive-JPEG CPU bomb) is
 *     SITR_ETOOBIG, checked from the progress monitor as djpeg's
 *     -maxscans does (libjpeg-turbo 2.1 has no built-in limit);
 *   - only the first image of the stream is read (JPEG has one; what
 *     follows its data, e.g. an MPO's second frame, is never looked at).
 * Declined (SITR_DECODE_DECLINED): not FF D8 FF, arithmetic coding,
 * 12-bit, colour spaces other than grey/YCbCr/RGB/CMYK/YCCK, any warning.
 *
 * Deliberate differences from the libvips path: the scan and memory limits
 * above (libvips has none).  CMYK: both paths take every CMYK JPEG's
 * samples as Adobe-inverted, as ImageMagick's JPEG coder (and libvips'
 * loader) does, Adobe marker or not.
 *
 * Reentrant: all state is per call; any thread. */
#include "decode_int.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define PRESCALE 512
#define MIN_SIDE 5
/* Legal progressive files have about 10 scans; other decoders cap
 * similar attacks at 256. */
#define MAX_SCANS 256
/* Slack over the whole-image coefficient buffers for libjpeg's other
 * allocations (Huffman tables, row buffers). */
#define MEM_SLACK ((uint64_t)64 << 20)

enum { FAIL_ERROR = 1, FAIL_WARNING, FAIL_SCANS };

/* Everything the error handler and the longjmp target share.  Lives on
 * the heap so that nothing touched after setjmp is a local variable. */
typedef struct jctx {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_source_mgr src;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    int fail;    /* FAIL_* once a handler has jumped */
    int created; /* jpeg_create_decompress has run */
    char msg[JMSG_LENGTH_MAX];
    uint8_t *row; /* one decoded row: width * components */
    uint8_t *pix; /* the sampled output pixels */
    uint32_t *xs; /* source column of each output column */
    float *luma;
} jctx_t;

static jctx_t *ctx_of(j_common_ptr c)
{
    /* cinfo is the first member: the error manager gets the context back
     * from the cinfo pointer it is handed. */
    return (jctx_t *)(void *)c;
}

static void on_error_exit(j_common_ptr c)
{
    jctx_t *x = ctx_of(c);
    if (x->fail == 0) {
        x->fail = FAIL_ERROR;
        c->err->format_message(c, x->msg);
    }
    longjmp(x->jb, 1);
}

/* msg_level < 0 is a warning; trace messages (>= 0) are ignored. */
static void on_emit_message(j_common_ptr c, int msg_level)
{
    if (msg_level >= 0)
        return;
    jctx_t *x = ctx_of(c);
    x->fail = FAIL_WARNING;
    longjmp(x->jb, 1);
}

static void on_output_message(j_common_ptr c)
{
    (void)c; /* the library never prints */
}

static void on_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > MAX_SCANS) {
        jctx_t *x = ctx_of(c);
        x->fail = FAIL_SCANS;
        longjmp(x->jb, 1);
    }
}

/* The whole file is in memory: the buffer is handed over at once, and any
 * request for more is a truncated file. */
static void src_init(j_decompress_ptr c)
{
    (void)c;
}

static boolean src_fill(j_decompress_ptr c)
{
    ERREXIT(c, JERR_INPUT_EOF);
    return FALSE;
}

static void src_skip(j_decompress_ptr c, long n)
{
    if (n <= 0)
        return;
    if ((unsigned long)n > c->src->bytes_in_buffer)
        ERREXIT(c, JERR_INPUT_EOF);
    c->src->next_input_byte += n;
    c->src->bytes_in_buffer -= (size_t)n;
}

static void src_term(j_decompress_ptr c)
{
    (void)c;
}

/* True when the upsampler works with context rows (fancy h2v2 or h1v2
 * upsampling of some component), mirroring jinit_upsampler in
 * libjpeg-turbo 2.1 at scale 1/1. */
static int needs_context_rows(const struct jpeg_decompress_struct *c)
{
    for (int ci = 0; ci < c->num_components; ci++) {
        const jpeg_component_info *cp = &c->comp_info[ci];
        int hin = cp->h_samp_factor, vin = cp->v_samp_factor;
        int hout = c->max_h_samp_factor, vout = c->max_v_samp_factor;
        if (hin * 2 == hout && vin * 2 == vout && cp->downsampled_width > 2)
            return 1;
        if (hin == hout && vin * 2 == vout)
            return 1;
    }
    return 0;
}

/* Largest n <= want rows that jpeg_skip_scanlines passes by reading and
 * discarding them inside the current iMCU row (exact: only the colour
 * conversion is left out).  0 when skipping is not safe here.
 *   - context-row upsampling: libjpeg-turbo reads and discards when
 *     n < rows left in the iMCU row + 1, and rows left must be > 0;
 *   - no context rows and one row per row group (max_v_samp_factor 1):
 *     it advances the row-group counter inside the decoded iMCU row,
 *     exact for n < rows left.  Row groups of 2 rows without context rows
 *     are never skipped (libjpeg-turbo issue 915). */
static unsigned skip_ok(const struct jpeg_decompress_struct *c, int context, unsigned want)
{
    unsigned per = (unsigned)c->min_DCT_scaled_size * (unsigned)c->max_v_samp_factor;
    if (per == 0)
        return 0;
    unsigned left = (per - c->output_scanline % per) % per;
    if (left == 0)
        return 0;
    if (context)
        return want < left ? want : left;
    if (c->max_v_samp_factor == 1)
        return want < left ? want : left - 1;
    return 0;
}

enum kind { KIND_GREY, KIND_RGB, KIND_CMYK };

static int row_has_colour(enum kind kind, const uint8_t *row, size_t width)
{
    if (kind == KIND_RGB) {
        for (size_t i = 0; i < 3 * width; i += 3)
            if ((row[i] ^ row[i + 1]) | (row[i] ^ row[i + 2]))
                return 1;
        return 0;
    }
    /* CMYK: R = G = B exactly when k = 0 (all three are 0) or c = m = y,
     * because the per-channel conversion is strictly increasing in the ink
     * sample for k > 0 (steps of 257k/255 > 1 before rounding). */
    for (size_t i = 0; i < 4 * width; i += 4)
        if (row[i + 3] != 0 && (row[i] != row[i + 1] || row[i] != row[i + 2]))
            return 1;
    return 0;
}

static void sample_row(enum kind kind, const uint8_t *row, const uint32_t *xs, int ow, uint8_t *dst)
{
    if (kind == KIND_GREY) {
        for (int x = 0; x < ow; x++)
            dst[x] = row[xs[x]];
    } else if (kind == KIND_RGB) {
        for (int x = 0; x < ow; x++)
            memcpy(dst + 3 * x, row + 3 * (size_t)xs[x], 3);
    } else {
        for (int x = 0; x < ow; x++) {
            const uint8_t *p = row + 4 * (size_t)xs[x];
            for (int b = 0; b < 3; b++)
                dst[3 * x + b] = sitr_decode_cmyk8(p[b], p[3]);
        }
    }
}

static void ctx_free(jctx_t *x)
{
    if (x->created)
        jpeg_destroy_decompress(&x->cinfo);
    free(x->row);
    free(x->pix);
    free(x->xs);
    free(x->luma);
    free(x);
}

/* Maps the jump taken out of libjpeg to a result. */
static int jump_result(const jctx_t *x, sitr_err_t *err)
{
    if (x->fail == FAIL_WARNING)
        return SITR_DECODE_DECLINED;
    if (x->fail == FAIL_SCANS)
        return sitr_err_set(err, SITR_ETOOBIG, "JPEG has more than %d scans", MAX_SCANS);
    switch (x->jerr.msg_code) {
    case JERR_BAD_PRECISION: /* 12-bit: libvips reports it in its words */
    case JERR_ARITH_NOTIMPL:
    case JERR_NOT_COMPILED:
        return SITR_DECODE_DECLINED;
    case JERR_NO_BACKING_STORE: /* max_memory_to_use exceeded */
    case JERR_OUT_OF_MEMORY:
        return sitr_err_set(err, SITR_ETOOBIG, "JPEG needs more memory than the limit (%s)",
                            x->msg);
    default:
        return sitr_err_set(err, SITR_ECORRUPT, "corrupt or truncated JPEG (%s)", x->msg);
    }
}

/* Source row of output row y_out, or height once all rows are sampled. */
static uint32_t next_sampled(int y_out, int oh, int big, uint32_t height)
{
    if (y_out >= oh)
        return height;
    return big ? sitr_decode_prescale_src((uint32_t)y_out, height) : (uint32_t)y_out;
}

/* Everything that may longjmp, called under the setjmp of
 * sitr_decode_luma_jpeg.  Keeps its state in *x and in locals that are
 * dead once a jump happens. */
static int decode(jctx_t *x, const uint8_t *p, size_t len, const sitr_image_limits_t *lim,
                  sitr_luma_t *out, sitr_err_t *err)
{
    struct jpeg_decompress_struct *c = &x->cinfo;
    jpeg_create_decompress(c);
    x->created = 1;
    x->src.init_source = src_init;
    x->src.fill_input_buffer = src_fill;
    x->src.skip_input_data = src_skip;
    x->src.resync_to_restart = jpeg_resync_to_restart;
    x->src.term_source = src_term;
    x->src.next_input_byte = p;
    x->src.bytes_in_buffer = len;
    c->src = &x->src;
    x->progress.progress_monitor = on_progress;
    c->progress = &x->progress;

    jpeg_read_header(c, TRUE);

    enum kind kind;
    if (c->jpeg_color_space == JCS_GRAYSCALE && c->num_components == 1)
        kind = KIND_GREY;
    else if ((c->jpeg_color_space == JCS_YCbCr || c->jpeg_color_space == JCS_RGB) &&
             c->num_components == 3)
        kind = KIND_RGB;
    else if ((c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK) &&
             c->num_components == 4)
        kind = KIND_CMYK;
    else
        return SITR_DECODE_DECLINED;
    if (c->arith_code || c->data_precision != 8)
        return SITR_DECODE_DECLINED;

    const uint32_t width = c->image_width, height = c->image_height;
    /* libjpeg refuses zero sizes in jpeg_read_header already. */
    if ((uint64_t)width * height > lim->max_pixels)
        return sitr_err_set(err, SITR_ETOOBIG, "image is %ux%u, more than %llu pixels", width,
                            height, (unsigned long long)lim->max_pixels);
    if (width < MIN_SIDE || height < MIN_SIDE)
        return sitr_err_set(err, SITR_ETOOSMALL, "image is %ux%u, PDQ needs at least %dx%d", width,
                            height, MIN_SIDE, MIN_SIDE);

    /* Defaults made explicit: these decide the pixels (SPEC.md §2.1). */
    c->dct_method = JDCT_ISLOW;
    c->do_fancy_upsampling = TRUE;
    c->do_block_smoothing = TRUE;
    c->scale_num = c->scale_denom = 1;
    c->quantize_colors = FALSE;
    c->out_color_space = kind == KIND_GREY ? JCS_GRAYSCALE : kind == KIND_RGB ? JCS_RGB : JCS_CMYK;
    /* Whole-image coefficient buffers need 2 bytes per coefficient, at
     * most one coefficient per pixel and component. */
    uint64_t per_px = 2u * (uint64_t)c->num_components;
    uint64_t mem = lim->max_pixels > ((uint64_t)LONG_MAX - MEM_SLACK) / per_px
                       ? (uint64_t)LONG_MAX
                       : lim->max_pixels * per_px + MEM_SLACK;
    c->mem->max_memory_to_use = (long)mem;
    if (jpeg_has_multiple_scans(c)) {
        /* jdcoefct.c's whole-image arrays: every component's blocks,
         * rounded up to whole MCUs. */
        uint64_t need = 0;
        for (int ci = 0; ci < c->num_components; ci++) {
            const jpeg_component_info *cp = &c->comp_info[ci];
            uint64_t bw = ((uint64_t)cp->width_in_blocks + (uint64_t)cp->h_samp_factor - 1) /
                          (uint64_t)cp->h_samp_factor * (uint64_t)cp->h_samp_factor;
            uint64_t bh = ((uint64_t)cp->height_in_blocks + (uint64_t)cp->v_samp_factor - 1) /
                          (uint64_t)cp->v_samp_factor * (uint64_t)cp->v_samp_factor;
            need += bw * bh * sizeof(JBLOCK);
        }
        if (need > mem)
            return sitr_err_set(err, SITR_ETOOBIG,
                                "multi-scan JPEG needs %llu bytes of coefficients, limit %llu",
                                (unsigned long long)need, (unsigned long long)mem);
    }

    const int big = width > PRESCALE || height > PRESCALE;
    const int ow = big ? PRESCALE : (int)width, oh = big ? PRESCALE : (int)height;
    const int nch = kind == KIND_GREY ? 1 : 3;
    const size_t ncomp = kind == KIND_GREY ? 1 : kind == KIND_RGB ? 3 : 4;
    x->row = malloc((size_t)width * ncomp);
    x->pix = malloc((size_t)ow * (size_t)oh * (size_t)nch);
    x->xs = malloc((size_t)ow * sizeof(*x->xs));
    x->luma = malloc((size_t)ow * (size_t)oh * sizeof(float));
    if (x->row == NULL || x->pix == NULL || x->xs == NULL || x->luma == NULL)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory for %ux%u JPEG", width, height);
    for (int i = 0; i < ow; i++)
        x->xs[i] = big ? sitr_decode_prescale_src((uint32_t)i, width) : (uint32_t)i;

    jpeg_start_decompress(c);
    if (c->output_width != width || c->output_height != height ||
        (size_t)c->output_components != ncomp)
        return sitr_err_set(err, SITR_EINTERNAL, "libjpeg output is not the expected layout");
    const int context = needs_context_rows(c);

    int colour = 0;
    int colour_known = kind == KIND_GREY; /* nothing to look for in grey */
    const size_t out_row = (size_t)ow * (size_t)nch;
    int y_out = 0;
    JSAMPROW rowp = x->row;
    while (c->output_scanline < height) {
        uint32_t y = c->output_scanline;
        uint32_t next = next_sampled(y_out, oh, big, height);
        if (colour_known && next > y) {
            /* Rows before next are not sampled.  The last row of the
             * image is always read, so that all the entropy-coded data is
             * decoded (and checked) as on the libvips path. */
            uint32_t want = next - y;
            if (y + want >= height)
                want = height - 1 - y;
            unsigned n = skip_ok(c, context, want);
            if (n > 0) {
                if (jpeg_skip_scanlines(c, n) != n)
                    return sitr_err_set(err, SITR_EINTERNAL, "libjpeg skipped short");
                continue;
            }
        }
        if (jpeg_read_scanlines(c, &rowp, 1) != 1)
            return sitr_err_set(err, SITR_EINTERNAL, "libjpeg returned no row");
        if (!colour_known && row_has_colour(kind, x->row, width))
            colour = colour_known = 1;
        const uint8_t *first = NULL;
        for (; next == y; next = next_sampled(y_out, oh, big, height)) {
            uint8_t *d = x->pix + (size_t)y_out * out_row;
            if (first == NULL)
                sample_row(kind, x->row, x->xs, ow, d);
            else /* a stretched side repeats the row */
                memcpy(d, first, out_row);
            first = d;
            y_out++;
        }
    }
    if (y_out != oh)
        return sitr_err_set(err, SITR_EINTERNAL, "pre-scale sampled %d of %d rows", y_out, oh);
    /* No jpeg_finish_decompress: what follows the last scan (EOI, trailing
     * bytes, further images) is not part of the first image's pixels, and
     * libvips ignores errors there too. */

    out->grey = kind == KIND_GREY || !colour;
    sitr_decode_to_luma(x->pix, nch, out->grey, (size_t)ow * (size_t)oh, x->luma);
    out->px = x->luma;
    out->pix = x->pix;
    out->nch = nch;
    out->rows = oh;
    out->cols = ow;
    out->width = (int)width;
    out->height = (int)height;
    x->luma = NULL;
    x->pix = NULL;
    return 0;
}

int sitr_decode_luma_jpeg(const void *data, size_t len, const sitr_image_limits_t *lim,
                          sitr_luma_t *out, sitr_err_t *err)
{
    memset(out, 0, sizeof(*out));
    const uint8_t *p = data;
    if (data == NULL || len < 3 || p[0] != 0xFF || p[1] != 0xD8 || p[2] != 0xFF)
        return SITR_DECODE_DECLINED;

    jctx_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory for the JPEG decoder");
    x->cinfo.err = jpeg_std_error(&x->jerr);
    x->jerr.error_exit = on_error_exit;
    x->jerr.emit_message = on_emit_message;
    x->jerr.output_message = on_output_message;

    int rc;
    if (setjmp(x->jb) == 0)
        rc = decode(x, p, len, lim, out, err);
    else
        rc = jump_result(x, err);
    if (rc != 0) {
        sitr_luma_free(out);
        memset(out, 0, sizeof(*out));
    }
    ctx_free(x);
    return rc;
}
