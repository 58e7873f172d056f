/* Percent-decoding for the router's {name} parameters and the request's
 * query string.  Pure functions, any thread. */
#ifndef SITR_URL_H
#define SITR_URL_H

#include <stddef.h>

/* Percent-decodes src[0..len) into dst (size >= len+1); plus_space turns '+'
 * into ' ' (query strings).  Returns the decoded length, or -1 for a bad
 * escape or a decoded NUL. */
long sitr_url_decode(const char *src, size_t len, char *dst, int plus_space);

#endif
