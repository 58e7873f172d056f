/* The command's language (contract in i18n.h).
 *
 * The texts are the generated table sitr_cli_texts (cli_texts.c, from
 * texts.json).  Filling placeholders is a plain scan for {name}: a
 * translation can move, repeat or drop a placeholder but can never make
 * the program read an argument that is not there, as a printf format
 * could.  Main thread only: the language and the verbose flag are
 * process-wide. */
#include "i18n.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sitr/err.h>

static sitr_lang_t current = SITR_LANG_EN;
static int verbose;

static const char *const codes[] = {"en", "fr", "ar"};

int sitr_i18n_parse(const char *code, sitr_lang_t *out)
{
    for (size_t i = 0; code != NULL && i < sizeof codes / sizeof codes[0]; i++) {
        if (strcasecmp(code, codes[i]) == 0) {
            *out = (sitr_lang_t)i;
            return 0;
        }
    }
    return -1;
}

/* The language of a locale or LANGUAGE entry: "ar_MA.UTF-8", "fr",
 * "fr_FR@euro", "en-GB". */
static int lang_of(const char *name, size_t len, sitr_lang_t *out)
{
    size_t n = strcspn(name, "_.@-:");
    if (n > len)
        n = len;
    char code[3];
    if (n != 2)
        return -1;
    code[0] = name[0];
    code[1] = name[1];
    code[2] = '\0';
    return sitr_i18n_parse(code, out);
}

static int is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

sitr_lang_t sitr_i18n_pick(const char *language, const char *lc_all, const char *lc_messages,
                           const char *lang)
{
    const char *locale = is_set(lc_all) ? lc_all : is_set(lc_messages) ? lc_messages : lang;
    sitr_lang_t l;
    if (is_set(locale) && strcmp(locale, "C") != 0 && strcmp(locale, "POSIX") != 0 &&
        is_set(language)) {
        for (const char *p = language; *p != '\0';) {
            size_t n = strcspn(p, ":");
            if (lang_of(p, n, &l) == 0)
                return l;
            p += n;
            if (*p == ':')
                p++;
        }
    }
    if (is_set(locale) && lang_of(locale, strlen(locale), &l) == 0)
        return l;
    return SITR_LANG_EN;
}

void sitr_i18n_init(void)
{
    current =
        sitr_i18n_pick(getenv("LANGUAGE"), getenv("LC_ALL"), getenv("LC_MESSAGES"), getenv("LANG"));
}

void sitr_i18n_set(sitr_lang_t lang)
{
    current = lang;
}

sitr_lang_t sitr_i18n_lang(void)
{
    return current;
}

const char *sitr_i18n_code(void)
{
    return codes[current];
}

void sitr_i18n_set_verbose(int on)
{
    verbose = on;
}

int sitr_i18n_verbose(void)
{
    return verbose;
}

const char *sitr_tr(sitr_text_t t)
{
    return sitr_cli_texts[current][t];
}

typedef struct sink {
    char *buf;
    size_t len, cap;
    int failed;
} sink_t;

static void add(sink_t *s, const char *p, size_t n)
{
    if (s->failed)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL) {
            s->failed = 1;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

/* Appends value with control characters replaced: C0, DEL, and C1 as
 * UTF-8 (0xC2 0x80..0x9F, which a UTF-8 terminal obeys like ESC [). */
static void add_safe(sink_t *s, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    for (size_t i = 0; p[i] != '\0'; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            add(s, "?", 1);
        } else if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
            add(s, "?", 1);
            i++;
        } else {
            add(s, (const char *)p + i, 1);
        }
    }
}

/* Fills the placeholders of text t into s from the name/value pairs. */
static void render(sink_t *s, sitr_text_t t, va_list ap)
{
    const char *names[16], *values[16];
    size_t n = 0;
    for (const char *name; n < 16 && (name = va_arg(ap, const char *)) != NULL; n++) {
        names[n] = name;
        values[n] = va_arg(ap, const char *);
    }
    const char *p = sitr_tr(t);
    add(s, "", 0);
    while (*p != '\0') {
        const char *open = strchr(p, '{');
        if (open == NULL) {
            add(s, p, strlen(p));
            break;
        }
        add(s, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        size_t k = 0;
        if (close != NULL)
            for (; k < n; k++)
                if (strlen(names[k]) == (size_t)(close - open - 1) &&
                    memcmp(names[k], open + 1, (size_t)(close - open - 1)) == 0)
                    break;
        if (close == NULL || k == n) {
            add(s, "{", 1);
            p = open + 1;
            continue;
        }
        add_safe(s, values[k] != NULL ? values[k] : "");
        p = close + 1;
    }
}

void sitr_tr_vput(FILE *f, sitr_text_t t, va_list ap)
{
    sink_t s = {0};
    render(&s, t, ap);
    fputs(s.failed || s.buf == NULL ? sitr_tr(t) : s.buf, f);
    free(s.buf);
}

void sitr_tr_put(FILE *f, sitr_text_t t, ...)
{
    va_list ap;
    va_start(ap, t);
    sitr_tr_vput(f, t, ap);
    va_end(ap);
}

void sitr_tr_err(const char *prog, sitr_text_t t, ...)
{
    fprintf(stderr, "%s: ", prog);
    va_list ap;
    va_start(ap, t);
    sitr_tr_vput(stderr, t, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sitr_tr_detail(const char *detail)
{
    if (!verbose || detail == NULL || detail[0] == '\0')
        return;
    fputs("  (", stderr);
    sitr_tr_put(stderr, SITR_TX_CLI_DETAIL, "detail", detail, NULL);
    fputs(")\n", stderr);
}

size_t sitr_tr_snprintf(char *out, size_t outsz, sitr_text_t t, ...)
{
    sink_t s = {0};
    va_list ap;
    va_start(ap, t);
    render(&s, t, ap);
    va_end(ap);
    const char *text = s.failed || s.buf == NULL ? sitr_tr(t) : s.buf;
    size_t len = strlen(text);
    if (outsz > 0) {
        size_t k = len < outsz - 1 ? len : outsz - 1;
        memcpy(out, text, k);
        out[k] = '\0';
    }
    free(s.buf);
    return len;
}

void sitr_i18n_put_safe(FILE *f, const char *s)
{
    sink_t k = {0};
    add_safe(&k, s != NULL ? s : "");
    if (k.buf != NULL)
        fputs(k.buf, f);
    free(k.buf);
}

/* The plain words for a file that could not be hashed (its path is
 * printed before them); the library's own message under --verbose. */
sitr_text_t sitr_i18n_file_problem(int code)
{
    switch (code) {
    case SITR_EFORMAT:
    case SITR_ECODEC:
    case SITR_ENOVIDEO:
        return SITR_TX_CLI_FILE_NOT_MEDIA;
    case SITR_ECORRUPT:
    case SITR_EBADVIDEO:
        return SITR_TX_CLI_FILE_DAMAGED;
    case SITR_ETOOSMALL:
    case SITR_ESMALLVIDEO:
        return SITR_TX_CLI_FILE_TOO_SMALL;
    case SITR_ETOOBIG:
        return SITR_TX_CLI_FILE_TOO_BIG;
    case SITR_EEMPTY:
        return SITR_TX_CLI_FILE_EMPTY;
    case SITR_ENOENT:
        return SITR_TX_CLI_FILE_MISSING;
    case SITR_ELOOP:
        return SITR_TX_CLI_FILE_LOOP;
    case SITR_ENOMEM:
        return SITR_TX_CLI_OUT_OF_MEMORY;
    default:
        return SITR_TX_CLI_FILE_UNREADABLE;
    }
}

/* "<prog>: <path>: <plain words>" and the detail under --verbose. */
void sitr_tr_file_failed(const char *prog, const char *path, int code, const char *msg)
{
    fprintf(stderr, "%s: ", prog);
    sitr_i18n_put_safe(stderr, path);
    fputs(": ", stderr);
    sitr_tr_put(stderr, sitr_i18n_file_problem(code), NULL);
    fputc('\n', stderr);
    sitr_tr_detail(msg != NULL && msg[0] != '\0' ? msg : sitr_strerror(code));
}
