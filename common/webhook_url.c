/* The webhook URL rule (webhook_url.h).  http(s) only, so sitrd never POSTs
 * to file://, gopher:// or the like; a host must follow the scheme; and no
 * byte that could split a header or a log line.  Stateless. */
#include <sitr/webhook_url.h>

#include <stddef.h>
#include <string.h>

int sitr_webhook_url_ok(const char *url)
{
    if (!url)
        return 0;
    size_t n = strlen(url), skip;
    if (n > 2048)
        return 0;
    if (strncmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return 0;
    /* A host must follow: not "/", "?", "#", ":" nor the end. */
    char c = url[skip];
    if (c == '\0' || c == '/' || c == '?' || c == '#' || c == ':' || c == '@')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char u = (unsigned char)url[i];
        if (u <= 0x20 || u == 0x7f)
            return 0;
    }
    return 1;
}
