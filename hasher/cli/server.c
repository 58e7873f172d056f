/* The server of `sitr case` (contract in server.h).
 *
 * The config file is one comment line and one URL line.  It is read with
 * O_NOFOLLOW and checked (regular, owned by the user, not writable by
 * group or others, at most 4 KiB) before it is believed: whoever can write
 * it decides where her hashes and her secret go.  It is written as a new
 * file in the same folder, then renamed over the old one, so a crash never
 * leaves half a URL.  Main thread only. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"

#define CONFIG_MAX_BYTES 4096

/* $XDG_CONFIG_HOME/sitr/server, else $HOME/.config/sitr/server; "" when
 * neither is set (or the path is too long).  dir gets the folder. */
static void config_path(char *path, size_t size, char *dir, size_t dsize)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n = -1;
    /* The XDG rule: a relative XDG_CONFIG_HOME is ignored. */
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(dir, dsize, "%s/sitr", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(dir, dsize, "%s/.config/sitr", home);
    if (n < 0 || (size_t)n >= dsize || (size_t)n + 8 >= size) {
        path[0] = dir[0] = '\0';
        return;
    }
    snprintf(path, size, "%s/server", dir);
}

static int is_http_url(const char *s)
{
    if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0)
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

/* 0 and the URL in out, 1 when there is no file, -1 (printed) when the
 * file is there but not to be trusted. */
static int read_config(const char *prog, const char *path, char *out, size_t outsz)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
    struct stat st;
    char buf[CONFIG_MAX_BYTES + 1];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        (st.st_mode & 022) == 0 && st.st_size <= CONFIG_MAX_BYTES)
        n = read(fd, buf, CONFIG_MAX_BYTES);
    close(fd);
    if (n < 0) {
        sitr_tr_err(prog, SITR_TX_CLI_SERVER_CONFIG_UNSAFE, "file", path, NULL);
        return -1;
    }
    buf[n] = '\0';
    /* The first line that is not a comment or blank. */
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (!is_http_url(line) || strlen(line) >= outsz)
            break;
        memcpy(out, line, strlen(line) + 1);
        return 0;
    }
    sitr_tr_err(prog, SITR_TX_CLI_SERVER_CONFIG_BAD, "file", path, NULL);
    return -1;
}

int sitr_server_choose(const char *prog, const char *option, sitr_server_choice_t *out)
{
    memset(out, 0, sizeof *out);
    char dir[4096];
    config_path(out->config, sizeof out->config, dir, sizeof dir);
    const char *env = getenv(SITR_SERVER_ENV);
    const char *url = NULL;
    if (option != NULL) {
        url = option;
        out->from = SITR_SERVER_OPTION;
    } else if (env != NULL && env[0] != '\0') {
        url = env;
        out->from = SITR_SERVER_ENVVAR;
    }
    if (url != NULL) {
        snprintf(out->url, sizeof out->url, "%s", url);
        return 0;
    }
    if (out->config[0] == '\0')
        return 0;
    int rc = read_config(prog, out->config, out->url, sizeof out->url);
    if (rc < 0)
        return -1;
    if (rc == 0)
        out->from = SITR_SERVER_CONFIG;
    return 0;
}

void sitr_server_announce(const sitr_server_choice_t *c)
{
    sitr_text_t t = c->from == SITR_SERVER_OPTION   ? SITR_TX_CLI_SERVER_FROM_OPTION
                    : c->from == SITR_SERVER_ENVVAR ? SITR_TX_CLI_SERVER_FROM_ENV
                                                    : SITR_TX_CLI_SERVER_FROM_CONFIG;
    sitr_tr_put(stderr, t, "server", c->url, "variable", SITR_SERVER_ENV, "file", c->config, NULL);
    fputc('\n', stderr);
}

static int save_failed(const char *prog, const char *path)
{
    int e = errno;
    sitr_tr_err(prog, SITR_TX_CLI_SERVER_SAVE_FAILED, "file", path, NULL);
    sitr_tr_detail(strerror(e));
    return -1;
}

int sitr_server_save(const char *prog, const sitr_server_choice_t *c)
{
    char dir[4096], path[4096], tmp[4200];
    config_path(path, sizeof path, dir, sizeof dir);
    if (path[0] == '\0')
        return -1;
    /* The folder above (~/.config) may be missing on a fresh account. */
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        if (mkdir(parent, 0700) != 0 && errno != EEXIST)
            return save_failed(prog, path);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return save_failed(prog, path);
    snprintf(tmp, sizeof tmp, "%s/.server.%ld", dir, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return save_failed(prog, path);
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(tmp);
        return save_failed(prog, path);
    }
    fprintf(f, "# The sitr server of `sitr case` (written by sitr case create; only its URL)\n%s\n",
            c->url);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return save_failed(prog, path);
    }
    return 0;
}
