/* Progress bar for `sitr hash`: "[#####.....]  123/456 files" on stderr,
 * or "[#####.....] 12/60 s of video" while a video is hashed, rewritten in
 * place with a carriage return.
 *
 * Invariant: stdout never receives a byte from here, and nothing is drawn
 * unless stderr is a terminal, so piped or redirected output stays clean.
 * Redraws are rate-limited so a batch of tiny files is not slowed by
 * terminal writes.  Printing thread only. */
#include "progress.h"

#include <time.h>
#include <unistd.h>

#include "i18n.h"

#define BAR_WIDTH 30

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sitr_progress_init(sitr_progress_t *p, FILE *f, size_t total)
{
    *p = (sitr_progress_t){.f = f, .total = total};
    p->enabled = total > SITR_PROGRESS_MIN_FILES && isatty(fileno(f));
    p->last_ms = -1000;
}

void sitr_progress_init_seconds(sitr_progress_t *p, FILE *f)
{
    *p = (sitr_progress_t){.f = f, .seconds = 1};
    p->enabled = isatty(fileno(f));
    p->start_ms = now_ms();
    p->last_ms = -1000;
}

static void draw(sitr_progress_t *p)
{
    size_t fill;
    if (p->seconds)
        fill = p->sec_total > 0 && p->sec_done < p->sec_total
                   ? (size_t)(p->sec_done / p->sec_total * BAR_WIDTH)
                   : BAR_WIDTH;
    else
        fill = p->total ? p->done * BAR_WIDTH / p->total : BAR_WIDTH;
    char bar[BAR_WIDTH + 1];
    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    char done[32], total[32];
    if (p->seconds) {
        snprintf(done, sizeof done, "%.0f", p->sec_done);
        snprintf(total, sizeof total, "%.0f", p->sec_total);
    } else {
        snprintf(done, sizeof done, "%zu", p->done);
        snprintf(total, sizeof total, "%zu", p->total);
    }
    fputc('\r', p->f);
    if (p->seconds && p->sec_total <= 0) {
        sitr_tr_put(p->f, SITR_TX_CLI_PROGRESS_SECONDS, "done", done, NULL);
    } else {
        fprintf(p->f, "[%s] ", bar);
        sitr_tr_put(p->f, p->seconds ? SITR_TX_CLI_PROGRESS_VIDEO : SITR_TX_CLI_PROGRESS_FILES,
                    "done", done, "total", total, NULL);
    }
    fflush(p->f);
    p->shown = 1;
}

void sitr_progress_update(sitr_progress_t *p, size_t done)
{
    if (!p->enabled)
        return;
    p->done = done;
    long long t = now_ms();
    if (done == p->total || t - p->last_ms >= 100 || !p->shown) {
        p->last_ms = t;
        draw(p);
    }
}

void sitr_progress_seconds_cb(void *ctx, double done, double total)
{
    sitr_progress_t *p = ctx;
    if (!p->enabled)
        return;
    p->sec_done = done;
    p->sec_total = total;
    long long t = now_ms();
    if (t - p->start_ms >= SITR_PROGRESS_VIDEO_DELAY_MS && t - p->last_ms >= 100) {
        p->last_ms = t;
        draw(p);
    }
}

void sitr_progress_clear(sitr_progress_t *p)
{
    if (!p->enabled || !p->shown)
        return;
    fputs("\r\033[K", p->f);
    fflush(p->f);
    p->shown = 0;
}

void sitr_progress_finish(sitr_progress_t *p)
{
    sitr_progress_clear(p);
    p->enabled = 0;
}
