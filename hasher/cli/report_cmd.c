/* `sitr report verify FILE [--public-key KEY]` (contract in report_cmd.h).
 *
 * The file is read whole (at most REPORT_MAX_BYTES); a JSON file is the
 * report itself, an HTML file carries it in its
 * <script type="application/json" id="sitr-report"> data block, as sitrd
 * writes it.  The verdict names the key that signed, the verification code
 * printed on the report, and what was checked. */
#include "report_cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include <sitr/report_sign.h>

#define REPORT_MAX_BYTES ((size_t)64 << 20)
#define DATA_OPEN        "<script type=\"application/json\" id=\"sitr-report\">"

void sitr_report_cmd_usage(FILE *f)
{
    fputs("Usage: sitr report verify FILE [--public-key KEY]\n"
          "\n"
          "Checks that an evidence report from a sitr service (the .html page or the\n"
          ".json file) is genuine: signed by the service's operator and not changed\n"
          "since, not one character. Works without a network.\n"
          "\n"
          "  --public-key KEY  the operator's published public key (base64, as\n"
          "                    'sitr-admin key show' prints it). Without it the key the\n"
          "                    report names is used: then compare its key id with the\n"
          "                    one the operator publishes.\n"
          "\n"
          "Exit status: 0 genuine, 1 not genuine or unreadable, 2 usage error.\n",
          f);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sitr: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(REPORT_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, REPORT_MAX_BYTES + 1, f) : 0;
    int bad = !buf || ferror(f) || n > REPORT_MAX_BYTES;
    fclose(f);
    if (bad) {
        fprintf(stderr, "sitr: cannot read %s (unreadable or larger than 64 MiB)\n", path);
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

static int verify(const char *path, const char *public_key)
{
    uint8_t pinned[SITR_SIGN_PK_BYTES];
    if (public_key && sitr_sign_pk_parse(public_key, pinned) < 0) {
        fprintf(stderr, "sitr: --public-key is not a public key (44 characters of base64)\n");
        return 2;
    }
    size_t len;
    char *text = read_all(path, &len);
    if (!text)
        return 1;
    json_t *report = report_of(text, len);
    free(text);
    if (!json_is_object(report)) {
        printf("NOT VERIFIED: %s holds no sitr report (neither its JSON nor a report page)\n",
               path);
        json_decref(report);
        return 1;
    }
    char id[SITR_SIGN_KEY_ID], code[SITR_SIGN_CODE];
    sitr_err_t err = {0};
    int rc = sitr_report_verify(report, public_key ? pinned : NULL, id, code, &err);
    const char *ref = json_string_value(json_object_get(report, "case"));
    const char *at = json_string_value(json_object_get(report, "generated_at"));
    const char *op =
        json_string_value(json_object_get(json_object_get(report, "operator"), "name"));
    if (rc < 0) {
        printf("NOT VERIFIED: %s\n", err.msg);
        json_decref(report);
        return 1;
    }
    printf("GENUINE: this report was signed with key %s and has not been changed.\n", id);
    printf("  case:              %s\n", ref ? ref : "?");
    printf("  generated:         %s\n", at ? at : "?");
    printf("  operator:          %s\n", op && *op ? op : "(not named)");
    printf("  verification code: %s (the same as printed on the report)\n", code);
    if (!public_key)
        printf("The key was taken from the report itself: check that %s is the key the\n"
               "operator publishes, or run again with --public-key.\n",
               id);
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
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            sitr_report_cmd_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--public-key") == 0 && i + 1 < argc) {
            public_key = argv[++i];
        } else if (strncmp(argv[i], "--public-key=", 13) == 0) {
            public_key = argv[i] + 13;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "sitr: unknown option '%s'\nTry 'sitr report --help'.\n", argv[i]);
            return 2;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "sitr: one report file at a time\n");
            return 2;
        }
    }
    if (!file) {
        sitr_report_cmd_usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "sitr: libsodium could not start\n");
        return 1;
    }
    return verify(file, public_key);
}
