/* Where sitrd and sitr-admin find their read-only data by default: the
 * victims' web page and the migrations.
 *
 * An installed program uses <datadir>/sitr/web and <datadir>/sitr/migrations
 * (the install prefix's share folder, fixed when the build is configured:
 * /usr/share/sitr for the Debian package, /usr/local/share/sitr for a plain
 * `cmake --install`).  A program run from the build tree it was built in
 * (the tests, tools/quickstart, a developer) uses the source tree's
 * service/web and migrations instead, so that it never serves an older
 * installed copy.  Options and environment variables (sitrd's --web-dir and
 * --migrations-dir, SITR_WEB_DIR, SITR_MIGRATIONS_DIR, sitr-admin's --dir)
 * override both; callers apply them.  Any thread. */
#ifndef SITR_DATADIR_H
#define SITR_DATADIR_H

typedef enum sitr_data { SITR_DATA_WEB, SITR_DATA_MIGRATIONS } sitr_data_t;

/* The default folder of what; a static string, never NULL. */
const char *sitr_data_dir(sitr_data_t what);

#endif
