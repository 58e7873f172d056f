/* HMA's signal strings, booleans and hash comparison (see hma_json.h).
 *
 * The rules mirror python-threatexchange's signal types as HMA 2.x uses
 * them: PdqSignal (lower-case hex only), VideoMD5Signal (stripped, any
 * case), VPDQSignal (compact features: "hex,quality,time" strings in a JSON
 * array) and its brute-force comparison.  Every size is bounded before
 * anything is allocated.  Pure; any thread. */
#include "api/hma_json.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sitr/hex.h>

static const char *const names[SITR_HMA_NTYPES] = {"pdq", "md5", "video_md5", "sha256", "vpdq"};

const char *sitr_hma_type_name(sitr_hma_type_t t)
{
    return (unsigned)t < SITR_HMA_NTYPES ? names[t] : "?";
}

int sitr_hma_type_parse(const char *name, sitr_hma_type_t *out)
{
    for (int i = 0; name && i < SITR_HMA_NTYPES; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (sitr_hma_type_t)i;
            return 0;
        }
    return -1;
}

void sitr_hma_unknown_type(const char *label, const char *name, char *msg, size_t cap)
{
    size_t n = name ? strlen(name) : 0;
    if (n > 0 && n <= 32 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n)
        snprintf(msg, cap, "No such %s '%s'", label, name);
    else
        snprintf(msg, cap, "No such %s", label);
}

int sitr_hma_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
    for (size_t i = 0; s && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int fail(char *msg, size_t cap, const char *text)
{
    snprintf(msg, cap, "invalid signal: %s", text);
    return -1;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* A digest: white space around it ignored, either case. */
static int parse_digest(const char *s, uint8_t *out, size_t bytes)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return sitr_hex_decode(s, n, out, bytes) == 0 ? 0 : -1;
}

/* One compact feature "hex,quality,seconds". */
static int parse_feature(const char *s, sitr_vframe_in_t *f)
{
    const char *c1 = strchr(s, ',');
    const char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    if (!c2 || strchr(c2 + 1, ','))
        return -1;
    if (sitr_pdq_from_hex(s, (size_t)(c1 - s), &f->pdq) < 0)
        return -1;
    char *end;
    const char *q = c1 + 1;
    if (!(isdigit((unsigned char)*q) || ((*q == '-' || *q == '+') && isdigit((unsigned char)q[1]))))
        return -1;
    long quality = strtol(q, &end, 10);
    if (end != c2 || quality < 0 || quality > 100)
        return -1;
    const char *t = c2 + 1;
    if (!*t || isspace((unsigned char)*t))
        return -1;
    double secs = strtod(t, &end);
    if (*end || !isfinite(secs) || secs < 0 || secs > 604800.0)
        return -1;
    f->quality = (int)quality;
    f->t = secs;
    return 0;
}

static int parse_vpdq(const char *s, size_t max_frames, sitr_hma_signal_t *out, char *msg,
                      size_t cap)
{
    json_error_t jerr;
    json_t *arr = json_loads(s, JSON_DECODE_ANY, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return fail(msg, cap, "a vpdq signal is a JSON array of \"hash,quality,seconds\" strings");
    }
    size_t n = json_array_size(arr);
    if (n > max_frames) {
        json_decref(arr);
        snprintf(msg, cap, "invalid signal: a vpdq signal takes at most %zu frames", max_frames);
        return -1;
    }
    out->frames = n ? calloc(n, sizeof *out->frames) : NULL;
    if (n && !out->frames) {
        json_decref(arr);
        return -2;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *f = json_string_value(json_array_get(arr, i));
        sitr_vframe_in_t *fr = &out->frames[i];
        if (!f || parse_feature(f, fr) < 0) {
            snprintf(msg, cap, "invalid signal: frame %zu is not \"hash,quality,seconds\"", i);
            rc = -1;
        } else if (i > 0 && fr->t < out->frames[i - 1].t) {
            snprintf(msg, cap, "invalid signal: frame %zu goes back in time", i);
            rc = -1;
        }
        fr->n = (uint32_t)i;
    }
    json_decref(arr);
    if (rc < 0) {
        free(out->frames);
        out->frames = NULL;
        return rc;
    }
    out->nframes = n;
    return 0;
}

int sitr_hma_signal_parse(sitr_hma_type_t t, const char *s, size_t max_frames,
                          sitr_hma_signal_t *out, char *msg, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->type = t;
    if (!s || !*s)
        return fail(msg, cap, "empty hash");
    switch (t) {
    case SITR_HMA_PDQ:
        if (strlen(s) != SITR_PDQ_HEX_LEN || !is_lower_hex(s, SITR_PDQ_HEX_LEN) ||
            sitr_pdq_from_hex(s, SITR_PDQ_HEX_LEN, &out->pdq) < 0)
            return fail(msg, cap, "invalid PDQ hash");
        return 0;
    case SITR_HMA_MD5:
    case SITR_HMA_VIDEO_MD5:
        if (parse_digest(s, out->digest, 16) < 0)
            return fail(msg, cap, "not a valid MD5 hash");
        return 0;
    case SITR_HMA_SHA256:
        if (parse_digest(s, out->digest, 32) < 0)
            return fail(msg, cap, "not a valid SHA-256 hash");
        return 0;
    case SITR_HMA_VPDQ:
        return parse_vpdq(s, max_frames, out, msg, cap);
    case SITR_HMA_NTYPES:
        break;
    }
    return fail(msg, cap, "unknown signal type");
}

void sitr_hma_signal_clear(sitr_hma_signal_t *sig)
{
    if (!sig)
        return;
    free(sig->frames);
    memset(sig, 0, sizeof *sig);
}

/* Indexes of the usable frames of f, exact duplicates counted once (first
 * kept), into idx; returns their number. */
static size_t usable(const sitr_vframe_in_t *f, size_t n, size_t *idx)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].quality < SITR_HMA_MIN_QUALITY)
            continue;
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = memcmp(f[idx[j]].pdq.b, f[i].pdq.b, sizeof f[i].pdq.b) == 0;
        if (!dup)
            idx[k++] = i;
    }
    return k;
}

static double share(const sitr_vframe_in_t *a, const size_t *ia, size_t na,
                    const sitr_vframe_in_t *b, const size_t *ib, size_t nb, int distance)
{
    if (na == 0)
        return 0;
    size_t hit = 0;
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb && !found; j++)
            found = sitr_pdq_distance(&a[ia[i]].pdq, &b[ib[j]].pdq) <= distance;
        hit += (size_t)found;
    }
    return (double)hit * 100.0 / (double)na;
}

void sitr_hma_vpdq_shares(const sitr_vframe_in_t *q, size_t nq, const sitr_vframe_in_t *c,
                          size_t nc, int distance, double *query_pct, double *compared_pct)
{
    size_t *iq = calloc(nq ? nq : 1, sizeof *iq);
    size_t *ic = calloc(nc ? nc : 1, sizeof *ic);
    *query_pct = *compared_pct = 0;
    if (iq && ic) {
        size_t uq = usable(q, nq, iq), uc = usable(c, nc, ic);
        *query_pct = share(q, iq, uq, c, ic, uc, distance);
        *compared_pct = share(c, ic, uc, q, iq, uq, distance);
    }
    free(iq);
    free(ic);
}

/* One [match, detail] pair for two parsed signals of the same type. */
static json_t *compare_pair(const sitr_hma_signal_t *a, const sitr_hma_signal_t *b, int threshold)
{
    switch (a->type) {
    case SITR_HMA_PDQ: {
        int d = sitr_pdq_distance(&a->pdq, &b->pdq);
        return json_pack("[b,{s:i}]", d <= threshold, "distance", d);
    }
    case SITR_HMA_VPDQ: {
        double q, c;
        sitr_hma_vpdq_shares(a->frames, a->nframes, b->frames, b->nframes, threshold, &q, &c);
        return json_pack("[b,{s:f,s:f}]", q >= 80.0, "query_match_percent", q,
                         "compared_match_percent", c);
    }
    case SITR_HMA_MD5:
    case SITR_HMA_VIDEO_MD5:
        return json_pack("[b,{}]", memcmp(a->digest, b->digest, 16) == 0);
    case SITR_HMA_SHA256:
        return json_pack("[b,{}]", memcmp(a->digest, b->digest, 32) == 0);
    case SITR_HMA_NTYPES:
        break;
    }
    return NULL;
}

json_t *sitr_hma_compare(const json_t *body, int threshold, size_t max_frames, char *msg,
                         size_t cap)
{
    msg[0] = '\0';
    if (!json_is_object(body)) {
        snprintf(msg, cap, "Request input was not a dict");
        return NULL;
    }
    json_t *answer = json_object();
    const char *key;
    json_t *pair;
    json_object_foreach((json_t *)body, key, pair)
    {
        sitr_hma_type_t t;
        if (!answer)
            return NULL;
        if (!json_is_array(pair)) {
            snprintf(msg, cap, "Comparison hashes for %.32s was not a list",
                     sitr_hma_type_parse(key, &t) == 0 ? key : "a signal type");
            break;
        }
        if (json_array_size(pair) != 2) {
            snprintf(msg, cap, "Comparison hash list length must be exactly 2");
            break;
        }
        if (sitr_hma_type_parse(key, &t) < 0) {
            sitr_hma_unknown_type("SignalType", key, msg, cap);
            break;
        }
        sitr_hma_signal_t a, b;
        char why[160];
        const char *sa = json_string_value(json_array_get(pair, 0));
        const char *sb = json_string_value(json_array_get(pair, 1));
        int ra = sitr_hma_signal_parse(t, sa, max_frames, &a, why, sizeof why);
        int rb = ra < 0 ? -1 : sitr_hma_signal_parse(t, sb, max_frames, &b, why, sizeof why);
        if (ra == -2 || rb == -2) {
            sitr_hma_signal_clear(&a);
            break; /* msg stays empty: out of memory */
        }
        if (ra < 0 || rb < 0) {
            sitr_hma_signal_clear(&a);
            /* why starts with "invalid signal: " */
            snprintf(msg, cap, "Invalid %s hash: %s", key, why + strlen("invalid signal: "));
            break;
        }
        json_t *r = compare_pair(&a, &b, threshold);
        sitr_hma_signal_clear(&a);
        sitr_hma_signal_clear(&b);
        if (!r || json_object_set_new(answer, key, r) < 0)
            break;
    }
    if (msg[0] || json_object_size(answer) != json_object_size(body)) {
        json_decref(answer);
        return NULL;
    }
    return answer;
}
