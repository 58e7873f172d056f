/* The case secret on the client side (contract in secret.h).
 *
 * The terminal prompt turns echo off on /dev/tty (not stdin, which may be a
 * pipe), and a SIGINT or SIGTERM while it waits restores the terminal before
 * the command ends, so an interrupted prompt never leaves a silent shell.
 * Buffers that held the secret are wiped before they are released.  Main
 * thread only. */
#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sitr/token.h>

#include "i18n.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* Reads in[0..len) with the shared typing rule (sitr/token.h: spaces,
 * hyphens, lower case, O for 0, I or L for 1, Arabic digits) into the
 * canonical secret; -1 when it is not a case secret. */
static int clean_secret(const char *in, size_t len, char out[SITR_SECRET_MAX_LEN + 1])
{
    return sitr_token_parse(SITR_TOKEN_SECRET, in, len, out, SITR_SECRET_MAX_LEN + 1) == 0 ? 0 : -1;
}

static int only_space(const char *in, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)in[i]))
            return 0;
    return 1;
}

static int from_file(const char *prog, const char *path, char out[SITR_SECRET_MAX_LEN + 1])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        sitr_tr_err(prog, SITR_TX_CLI_SECRET_FILE_OPEN, "file", path, NULL);
        sitr_tr_detail(strerror(e));
        return SITR_ENOENT;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
        sitr_tr_err(prog, SITR_TX_CLI_SECRET_FILE_OPEN_TO_ALL, "file", path, NULL);
    char buf[512];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(buf))
            break;
    }
    close(fd);
    char *nl = memchr(buf, '\n', len);
    size_t line = nl != NULL ? (size_t)(nl - buf) : len;
    int rc = clean_secret(buf, line, out);
    explicit_bzero(buf, sizeof(buf));
    if (rc < 0) {
        sitr_tr_err(prog, SITR_TX_CLI_SECRET_FILE_BAD, "file", path, NULL);
        return SITR_EINVAL;
    }
    return 0;
}

/* Reads one line from the terminal fd with echo off when hide is set.
 * Returns its length, or -1 (EOF, error or interrupted). */
static ssize_t tty_line(int fd, const char *prompt, int hide, char *buf, size_t cap)
{
    struct termios old, quiet;
    int have_old = tcgetattr(fd, &old) == 0;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: read() must return */
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (hide && have_old) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* a terminal that cannot be written to cannot be asked either */
    }
    size_t len = 0;
    int ok = 0;
    while (!interrupted && len + 1 < cap) {
        char ch;
        ssize_t n = read(fd, &ch, 1);
        if (n < 0 && errno == EINTR && !interrupted)
            continue;
        if (n <= 0)
            break;
        if (ch == '\n') {
            ok = 1;
            break;
        }
        buf[len++] = ch;
    }
    buf[len] = '\0';
    if (hide && have_old)
        tcsetattr(fd, TCSAFLUSH, &old);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (interrupted) {
        int sig = interrupted;
        explicit_bzero(buf, cap);
        if (write(fd, "\n", 1) < 0) {
            /* nothing more to do: the process is ending */
        }
        close(fd);
        raise(sig); /* end the way the signal would have, terminal restored */
        return -1;
    }
    return ok ? (ssize_t)len : -1;
}

int sitr_secret_read(const char *prog, const char *file, const char *case_ref,
                     char out[SITR_SECRET_MAX_LEN + 1])
{
    if (file != NULL)
        return from_file(prog, file, out);
    const char *env = getenv(SITR_SECRET_ENV);
    if (env != NULL && env[0] != '\0') {
        if (clean_secret(env, strlen(env), out) < 0) {
            sitr_tr_err(prog, SITR_TX_CLI_SECRET_ENV_BAD, "variable", SITR_SECRET_ENV, NULL);
            return SITR_EINVAL;
        }
        return 0;
    }
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        sitr_tr_err(prog, SITR_TX_CLI_SECRET_NONE, "variable", SITR_SECRET_ENV, NULL);
        return SITR_EINVAL;
    }
    /* A frightened person mistypes: three tries on the terminal, each
     * checked offline by the check symbol before anything is sent. */
    char prompt[512], buf[SITR_SECRET_MAX_LEN * 4 + 2];
    sitr_tr_snprintf(prompt, sizeof prompt, SITR_TX_CLI_SECRET_PROMPT, "case", case_ref, NULL);
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) {
        ssize_t n = tty_line(fd, prompt, 1, buf, sizeof(buf));
        if (n < 0 || only_space(buf, (size_t)n)) {
            sitr_tr_err(prog, SITR_TX_CLI_SECRET_EMPTY, NULL);
            break;
        }
        rc = clean_secret(buf, (size_t)n, out);
        if (rc < 0)
            sitr_tr_err(prog, SITR_TX_CLI_SECRET_TYPO, NULL);
    }
    close(fd);
    explicit_bzero(buf, sizeof(buf));
    return rc < 0 ? SITR_EINVAL : 0;
}

int sitr_secret_ask(const char *prog, const char *question, char *buf, size_t cap)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        sitr_tr_err(prog, SITR_TX_CLI_CONFIRM_NO_TTY, NULL);
        return SITR_EINVAL;
    }
    ssize_t n = tty_line(fd, question, 0, buf, cap);
    close(fd);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    /* Trim white space around the answer. */
    char *s = buf;
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    memmove(buf, s, len);
    buf[len] = '\0';
    return (int)len;
}

int sitr_secret_confirm(const char *prog, const char *question, const char *const *words,
                        size_t nwords)
{
    char buf[128];
    int n = sitr_secret_ask(prog, question, buf, sizeof buf);
    if (n < 0)
        return n;
    for (size_t i = 0; i < nwords; i++)
        if (strcasecmp(buf, words[i]) == 0)
            return 1;
    return 0;
}

int sitr_secret_save_open(const char *prog, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST) {
            sitr_tr_err(prog, SITR_TX_CLI_SAVE_EXISTS, "file", path, NULL);
        } else {
            sitr_tr_err(prog, SITR_TX_CLI_SAVE_CREATE, "file", path, NULL);
            sitr_tr_detail(strerror(e));
        }
        return -1;
    }
    /* The umask can only remove bits; make sure nothing else was added. */
    if (fchmod(fd, 0600) != 0) {
        int e = errno;
        sitr_tr_err(prog, SITR_TX_CLI_SAVE_CREATE, "file", path, NULL);
        sitr_tr_detail(strerror(e));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

int sitr_secret_save_write(const char *prog, int fd, const char *path, const char *secret)
{
    char line[SITR_SECRET_MAX_LEN + 2];
    int len = snprintf(line, sizeof(line), "%s\n", secret);
    size_t off = 0;
    int rc = 0;
    while (len > 0 && off < (size_t)len) {
        ssize_t n = write(fd, line + off, (size_t)len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
    }
    explicit_bzero(line, sizeof(line));
    if (rc == 0 && fsync(fd) != 0 && errno != EINVAL)
        rc = -1;
    if (close(fd) != 0)
        rc = -1;
    if (rc < 0) {
        int e = errno;
        sitr_tr_err(prog, SITR_TX_CLI_SAVE_WRITE, "file", path, NULL);
        sitr_tr_detail(strerror(e));
    }
    return rc;
}
