/* The language the `sitr` command speaks: English, French or Arabic, and
 * how much technical detail it shows.
 *
 * Every word comes from the texts catalogue service/web/texts.json (the
 * file translators edit for the page and the report too), compiled in at
 * build time by sitr_gen_texts into cli_texts.h/.c: SITR_TX_<KEY> names
 * the text of key "<key>", so a missing text is a compile error and the
 * command never depends on a file, a locale or gettext at run time (a
 * victim whose system lacks the ar_MA or fr_FR locale still reads her
 * language).  Texts hold {name} placeholders, filled from name/value
 * pairs; a value is printed with control characters replaced, so a file
 * name or a server's words cannot drive the terminal.
 *
 * To add a text: add "cli_<name>" to "en", "fr" and "ar" in texts.json
 * (test_texts checks that every language has it with the same
 * placeholders; sitrd leaves cli_* keys out of the page's copy) and print
 * it with sitr_tr_put(f, SITR_TX_CLI_<NAME>, "placeholder", value, ...,
 * NULL).
 *
 * The language is chosen once in main (sitr_i18n_init, then --lang) and
 * read by everything that prints.  Main thread only. */
#ifndef SITR_CLI_I18N_H
#define SITR_CLI_I18N_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "cli_texts.h"

typedef enum sitr_lang { SITR_LANG_EN = 0, SITR_LANG_FR, SITR_LANG_AR } sitr_lang_t;

/* "en", "fr" or "ar" (any case) into out; -1 for anything else. */
int sitr_i18n_parse(const char *code, sitr_lang_t *out);

/* The language of a process environment, gettext's way: the first of
 * LC_ALL, LC_MESSAGES and LANG that is set names the locale
 * ("ar_MA.UTF-8" is Arabic); unless that locale is C or POSIX, the
 * colon-separated list in LANGUAGE comes first ("fr:en").  A language we
 * do not have is passed over; English when none is left.  Arguments may
 * be NULL (unset). */
sitr_lang_t sitr_i18n_pick(const char *language, const char *lc_all, const char *lc_messages,
                           const char *lang);

/* Sets the language from this process's environment (sitr_i18n_pick). */
void sitr_i18n_init(void);

void sitr_i18n_set(sitr_lang_t lang);
sitr_lang_t sitr_i18n_lang(void);

/* "en", "fr" or "ar": the current language's code. */
const char *sitr_i18n_code(void);

/* --verbose: technical details (HTTP status, error codes, the decoder's
 * own words) are shown after the plain message. */
void sitr_i18n_set_verbose(int on);
int sitr_i18n_verbose(void);

/* The text in the current language, placeholders unfilled. */
const char *sitr_tr(sitr_text_t t);

/* Prints text t to f with its {name} placeholders filled from the
 * NULL-terminated list of name, value pairs (both strings, borrowed).
 * A placeholder with no value is printed as it is. */
void sitr_tr_put(FILE *f, sitr_text_t t, ...) __attribute__((sentinel));

/* The same into out (truncated to outsz, always terminated).  Returns the
 * length it wanted, like snprintf. */
size_t sitr_tr_snprintf(char *out, size_t outsz, sitr_text_t t, ...) __attribute__((sentinel));

/* sitr_tr_put with a va_list of name, value pairs. */
void sitr_tr_vput(FILE *f, sitr_text_t t, va_list ap);

/* An error or warning line on stderr: "<prog>: <text t, filled>\n". */
void sitr_tr_err(const char *prog, sitr_text_t t, ...) __attribute__((sentinel));

/* Under --verbose only: "  (<technical detail>)\n" on stderr, in the
 * current language's words; detail itself (an HTTP status, an error code,
 * a library's message) is printed as it came, control characters
 * replaced.  Nothing otherwise. */
void sitr_tr_detail(const char *detail);

/* The plain words for a file that could not be hashed, by its SITR_E*
 * code: not a picture or video sitr can read, damaged, too small, ... */
sitr_text_t sitr_i18n_file_problem(int code);

/* "<prog>: <path>: <plain words for code>\n" on stderr (path with control
 * characters replaced), then msg (the library's own words) under
 * --verbose. */
void sitr_tr_file_failed(const char *prog, const char *path, int code, const char *msg);

/* Prints s with control characters replaced by '?' (C0, DEL and the C1
 * range as UTF-8), for text from files and servers. */
void sitr_i18n_put_safe(FILE *f, const char *s);

#endif
