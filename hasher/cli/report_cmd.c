/* `sitr report verify FILE [--public-key KEY]` (contract in report_cmd.h).
 *
 * The file is read whole (at most REPORT_MAX_BYTES); a JSON file is the
 * report itself, an HTML file carries it in its
 * <script type="application/json" id="sitr-report"> data block, as sitrd
 * writes it.  The verdict names the key that signed, the verification code
 * printed on the report, and what was checked, in the user's language
 * (i18n.h): the officer or the helper checking a report reads French or
 * Arabic as often as English. */
#include "report_cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include <sitr/report_sign.h>

#include "i18n.h"

#define REPORT_MAX_BYTES ((size_t)64 << 20)
#define DATA_OPEN        "<script type=\"application/json\" id=\"sitr-report\">"

void sitr_report_cmd_usage(FILE *f)
{
    sitr_tr_put(f, SITR_TX_CLI_REPORT_USAGE, NULL);
}

/* "sitr: <text t, filled>" and the way to the help on stderr; exit 2. */
__attribute__((sentinel)) static int usage_error(sitr_text_t t, ...)
{
    va_list ap;
    va_start(ap, t);
    fputs("sitr: ", stderr);
    sitr_tr_vput(stderr, t, ap);
    va_end(ap);
    fputc('\n', stderr);
    sitr_tr_put(stderr, SITR_TX_CLI_TRY_REPORT_HELP, NULL);
    fputc('\n', stderr);
    return 2;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        const char *why = strerror(errno);
        sitr_tr_err("sitr", SITR_TX_CLI_REPORT_CANNOT_OPEN, "file", path, NULL);
        sitr_tr_detail(why);
        return NULL;
    }
    char *buf = malloc(REPORT_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, REPORT_MAX_BYTES + 1, f) : 0;
    int bad = !buf || ferror(f) || n > REPORT_MAX_BYTES;
    fclose(f);
    if (bad) {
        sitr_tr_err("sitr", SITR_TX_CLI_REPORT_CANNOT_READ, "file", path, NULL);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The report's JSON: the whole file, or the HTML page's data block. */
static json_t *report_of(char *text, size_t len)
{
    json_error_t e;
    size_t skip = 0;
    while (skip < len &&
           (text[skip] == ' ' || text[skip] == '\n' || text[skip] == '\r' || text[skip] == '\t'))
        skip++;
    if (skip < len && text[skip] == '{')
        return json_loadb(text + skip, len - skip, JSON_REJECT_DUPLICATES, &e);
    char *open = strstr(text, DATA_OPEN);
    if (!open)
        return NULL;
    char *body = open + strlen(DATA_OPEN);
    char *close = strstr(body, "</script>");
    if (!close)
        return NULL;
    return json_loadb(body, (size_t)(close - body), JSON_REJECT_DUPLICATES, &e);
}

static const sitr_text_t verdict_text[] = {
    [SITR_REPORT_GENUINE] = SITR_TX_CLI_REPORT_GENUINE,
    [SITR_REPORT_UNSIGNED] = SITR_TX_CLI_REPORT_UNSIGNED,
    [SITR_REPORT_MALFORMED] = SITR_TX_CLI_REPORT_MALFORMED,
    [SITR_REPORT_OTHER_KEY] = SITR_TX_CLI_REPORT_OTHER_KEY,
    [SITR_REPORT_UNREADABLE] = SITR_TX_CLI_REPORT_UNREADABLE,
    [SITR_REPORT_CHANGED] = SITR_TX_CLI_REPORT_CHANGED,
};

static int verify(const char *path, const char *public_key)
{
    uint8_t pinned[SITR_SIGN_PK_BYTES];
    if (public_key && sitr_sign_pk_parse(public_key, pinned) < 0)
        return usage_error(SITR_TX_CLI_REPORT_ERR_KEY, NULL);
    size_t len;
    char *text = read_all(path, &len);
    if (!text)
        return 1;
    json_t *report = report_of(text, len);
    free(text);
    if (!json_is_object(report)) {
        sitr_tr_put(stdout, SITR_TX_CLI_REPORT_NO_REPORT, "file", path, NULL);
        json_decref(report);
        return 1;
    }
    char id[SITR_SIGN_KEY_ID], code[SITR_SIGN_CODE];
    sitr_report_verdict_t v = sitr_report_check(report, public_key ? pinned : NULL, id, code);
    if (v != SITR_REPORT_GENUINE) {
        sitr_tr_put(stdout, verdict_text[v], "id", id, NULL);
        json_decref(report);
        return 1;
    }
    const char *ref = json_string_value(json_object_get(report, "case"));
    const char *at = json_string_value(json_object_get(report, "generated_at"));
    const char *op =
        json_string_value(json_object_get(json_object_get(report, "operator"), "name"));
    sitr_tr_put(stdout, verdict_text[v], "id", id, "case", ref ? ref : "?", "made", at ? at : "?",
                "operator", op && *op ? op : sitr_tr(SITR_TX_CLI_REPORT_NOT_NAMED), "code", code,
                NULL);
    if (public_key)
        sitr_tr_put(stdout, SITR_TX_CLI_REPORT_KEY_PINNED, NULL);
    else
        sitr_tr_put(stdout, SITR_TX_CLI_REPORT_KEY_FROM_REPORT, "id", id, NULL);
    json_decref(report);
    return 0;
}

int sitr_report_cmd_run(int argc, char **argv)
{
    const char *file = NULL, *public_key = NULL;
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        sitr_report_cmd_usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        sitr_report_cmd_usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            sitr_report_cmd_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--public-key") == 0) {
            if (i + 1 >= argc)
                return usage_error(SITR_TX_CLI_ERR_NEEDS_VALUE, "option", a, NULL);
            public_key = argv[++i];
        } else if (strncmp(a, "--public-key=", 13) == 0) {
            public_key = a + 13;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error(SITR_TX_CLI_ERR_UNKNOWN_OPTION, "option", a, NULL);
        } else if (!file) {
            file = a;
        } else {
            return usage_error(SITR_TX_CLI_REPORT_ERR_ONE_FILE, NULL);
        }
    }
    if (!file) {
        sitr_report_cmd_usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        sitr_tr_err("sitr", SITR_TX_CLI_REPORT_SODIUM, NULL);
        return 1;
    }
    return verify(file, public_key);
}
