/* Which webhook URLs sitr accepts: one rule for sitrd's sender (webhook.c,
 * checked again before every POST) and for `sitr-admin platform add`, the
 * same as the schema's CHECK on platforms.webhook_url.  Pure function, no
 * dependencies, any thread. */
#ifndef SITR_WEBHOOK_URL_H
#define SITR_WEBHOOK_URL_H

/* 1 if url is an acceptable webhook target: http:// or https://, a
 * non-empty host, at most 2048 bytes, no space or control character. */
int sitr_webhook_url_ok(const char *url);

#endif
