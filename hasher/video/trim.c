/* Uniform borders: letterbox bars (rows at the top and bottom) and
 * pillarbox bars (columns at the left and right) of one near-constant
 * level, black or any other colour, as added when a video is re-encoded
 * into another shape.
 *
 * A border line is one whose luma varies little (variance at most
 * FLAT_VAR, i.e. a standard deviation of about 3 levels: compression
 * noise in a flat bar, not picture content) and whose mean stays within
 * LEVEL_DIFF of the outermost line's.  We walk inwards from each edge
 * while lines qualify.  A side counts only when its bar is at least
 * MIN_BAR lines and 1 % of the dimension thick; the content left must be
 * at least MIN_CONTENT pixels and a quarter of the dimension (a portrait
 * phone video inside a 16:9 frame keeps 32 % of the width).  A frame that
 * is flat everywhere (a fade to black) has no borders.  Lines are sampled
 * at up to 256 points, so a frame costs a few thousand additions.  Pure,
 * any thread. */
#include "video_int.h"

#define FLAT_VAR    9.0f
#define LEVEL_DIFF  6.0f
#define MIN_BAR     2
#define MIN_CONTENT 32
#define SAMPLES     256

/* Mean and variance of n samples along a line starting at p, step apart. */
static void line_stats(const float *p, int n, size_t step, float *mean, float *var)
{
    int stride = n > SAMPLES ? n / SAMPLES : 1;
    double s = 0, s2 = 0;
    int k = 0;
    for (int i = 0; i < n; i += stride, k++) {
        double v = p[(size_t)i * step];
        s += v;
        s2 += v * v;
    }
    double m = s / k;
    *mean = (float)m;
    *var = (float)(s2 / k - m * m);
}

/* How many lines from one edge form a uniform bar.  line(i) is at
 * base + i * lstep; along a line, n samples step apart. */
static int bar_length(const float *base, ptrdiff_t lstep, int lines, int n, size_t step)
{
    float ref, var;
    line_stats(base, n, step, &ref, &var);
    if (var > FLAT_VAR)
        return 0;
    int i = 1;
    for (; i < lines; i++) {
        float m, v;
        line_stats(base + (ptrdiff_t)i * lstep, n, step, &m, &v);
        if (v > FLAT_VAR || m - ref > LEVEL_DIFF || ref - m > LEVEL_DIFF)
            break;
    }
    return i;
}

static int keep_bar(int bar, int dim)
{
    return bar >= MIN_BAR && bar * 100 >= dim ? bar : 0;
}

static int content_ok(int content, int dim)
{
    return content >= MIN_CONTENT && content * 4 >= dim;
}

int sitr_video_find_borders(const float *luma, int w, int h, sitr_vrect_t *c)
{
    if (w < MIN_CONTENT || h < MIN_CONTENT)
        return 0;
    int top = bar_length(luma, (ptrdiff_t)w, h, w, 1);
    if (top >= h)
        return 0; /* flat everywhere */
    int bottom = bar_length(luma + (size_t)(h - 1) * (size_t)w, -(ptrdiff_t)w, h - top, w, 1);
    top = keep_bar(top, h);
    bottom = keep_bar(bottom, h);
    int ch = h - top - bottom;
    if (!content_ok(ch, h))
        return 0;
    /* Columns, only over the rows left between the horizontal bars. */
    const float *rows = luma + (size_t)top * (size_t)w;
    int left = bar_length(rows, 1, w, ch, (size_t)w);
    if (left >= w)
        return 0;
    int right = bar_length(rows + (w - 1), -1, w - left, ch, (size_t)w);
    left = keep_bar(left, w);
    right = keep_bar(right, w);
    int cw = w - left - right;
    if (!content_ok(cw, w))
        return 0;
    if (top == 0 && bottom == 0 && left == 0 && right == 0)
        return 0;
    c->x = left;
    c->y = top;
    c->w = cw;
    c->h = ch;
    return 1;
}
