/* The printable evidence report (report_page.c).  Loop thread. */
#ifndef SITR_API_REPORT_PAGE_H
#define SITR_API_REPORT_PAGE_H

#include <stddef.h>

#include <jansson.h>
#include <sitr/err.h>
#include <sitr/err_service.h>

/* Takedowns and blocked groups listed (the summary counts all). */
#define SITR_REPORT_MAX_ROWS 1000

typedef enum sitr_report_lang {
    SITR_REPORT_EN = 0,
    SITR_REPORT_FR,
    SITR_REPORT_AR,
    SITR_REPORT_NLANGS
} sitr_report_lang_t;

/* "en", "fr", "ar". */
extern const char *const sitr_report_lang_code[SITR_REPORT_NLANGS];

/* Reads the page's words from the texts catalogue (the bytes of
 * service/web/texts.json, borrowed).  Call once at start-up, before any
 * report is drawn.  0, or SITR_ECONFIG (err says which word is missing in
 * which language), SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_report_page_texts(const char *json, size_t len, sitr_err_t *err);
void sitr_report_page_free_texts(void);

/* The printable page for report r (the JSON answer of the report).  NULL
 * when it would exceed its size cap or memory ran out; else the caller
 * frees it, *len bytes. */
char *sitr_report_page(const json_t *r, sitr_report_lang_t l, size_t *len);

/* The page's one inline style sheet (static text), whose hash the web
 * page's Content-Security-Policy allows. */
const char *sitr_report_page_style(void);

#endif
