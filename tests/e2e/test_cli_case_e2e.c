/* End-to-end tests of `sitr case` against a real sitrd and a fresh, migrated
 * PostgreSQL database (the `pg` fixture): create a case from the vendored
 * bridge-mods folder (tests/data/pdq; the extended corpus's too when
 * present) and prove in SQL that it holds exactly the hashes
 * `sitr hash --format jsonl` prints; status with the secret from the
 * environment and from a file; a wrong or missing secret; add; withdraw
 * (refused without confirmation, then erased); the evidence report as JSON
 * and as a printable page.  The privacy test points
 * `--server` at a listener in this process that records every byte the
 * client sends and answers canned successes: no request may contain any
 * 64-byte run of any image file, a file name, or anything but hashes.
 *
 * The binary runs with posix_spawn in a new session, so it has no
 * controlling terminal and every prompt path is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sitr/token.h>

#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"
#include "pdq_data.h"

extern char **environ;

#define SITR_BIN SITR_BINARY_DIR "/hasher/cli/sitr"
#define PDQ_DIR  SITR_SOURCE_DIR "/tests/data/pdq"
#define BRIDGE   PDQ_DIR "/bridge-mods"
/* Files in the vendored bridge-mods (pdqt_vendored()->bridge, asserted);
 * the extended corpus has 12, never more than MAX_BRIDGE. */
#define N_BRIDGE   6
#define MAX_BRIDGE 12
/* The server's per-request limit in this test: smaller than the number of
 * files, so the client must split (and discover the limit by halving). */
#define MAX_PER_REQUEST 5

typedef struct world {
    char *db_url;
    sitr_e2e_server_t srv;
    char server_url[64];
    char tmpdir[256];
    char ref[128], secret[128], secret_file[512];
} world_t;

static world_t W;

/* ---- running sitr ------------------------------------------------------------ */

typedef struct run {
    int status; /* exit status, or -1 if killed by a signal */
    char *out, *err;
} run_t;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

typedef struct cmdline {
    char *argv[64];
    char *envp[512];
} cmdline_t;

/* sitr's argv from args (NULL-terminated), and its environment: this
 * process's minus SITR_*, the language variables and XDG_CONFIG_HOME,
 * plus XDG_CONFIG_HOME in this test's folder (the file `sitr case create`
 * writes stays there), both overridden by extra_env (NULL-terminated, may
 * be NULL).  So a
 * test speaks English unless it says otherwise. */
static void make_cmdline(cmdline_t *c, const char *const *extra_env, const char *const *args)
{
    size_t na = 0;
    c->argv[na++] = (char *)SITR_BIN;
    for (size_t i = 0; args[i] != NULL && na < 63; i++)
        c->argv[na++] = (char *)args[i];
    c->argv[na] = NULL;
    static char xdg[600];
    snprintf(xdg, sizeof xdg, "XDG_CONFIG_HOME=%s/config", W.tmpdir);
    /* extra_env first: getenv takes the first of two same names. */
    size_t ne = 0;
    for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL && ne < 30; i++)
        c->envp[ne++] = (char *)extra_env[i];
    c->envp[ne++] = xdg;
    for (char **e = environ; *e != NULL && ne < 510; e++)
        if (strncmp(*e, "SITR_", 5) != 0 && strncmp(*e, "LANG", 4) != 0 &&
            strncmp(*e, "LC_", 3) != 0 && strncmp(*e, "XDG_CONFIG_HOME=", 16) != 0)
            c->envp[ne++] = *e;
    c->envp[ne] = NULL;
}

/* Runs sitr (make_cmdline) in a new session without a terminal, stdin
 * from /dev/null. */
static run_t run_sitr(const char *const *extra_env, const char *const *args)
{
    char out_path[600], err_path[600];
    snprintf(out_path, sizeof out_path, "%s/out", W.tmpdir);
    snprintf(err_path, sizeof err_path, "%s/err", W.tmpdir);
    cmdline_t cl;
    make_cmdline(&cl, extra_env, args);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    pid_t pid;
    int rc = posix_spawn(&pid, SITR_BIN, &fa, &at, cl.argv, cl.envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        fail_msg("posix_spawn %s: %s", SITR_BIN, strerror(rc));
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        assert_int_equal(errno, EINTR);
    run_t r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    r.out = read_file(out_path, NULL);
    r.err = read_file(err_path, NULL);
    return r;
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void expect_status(const run_t *r, int want)
{
    if (r->status != want)
        fail_msg("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r->status, want, r->out, r->err);
}

static void expect_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' not found in:\n%s", needle, hay);
}

/* ---- sitr at a terminal --------------------------------------------------------- */

/* sitr running with a pseudo-terminal as its controlling terminal, in
 * this test's folder: what it prints and asks is read from the pty, the
 * answers are typed into it. */
typedef struct tty_run {
    pid_t pid;
    int fd;
    char out[1 << 16];
    size_t len, seen;
} tty_run_t;

static void tty_start(tty_run_t *t, const char *const *extra_env, const char *const *args)
{
    cmdline_t cl;
    make_cmdline(&cl, extra_env, args);
    memset(t, 0, sizeof *t);
    t->pid = forkpty(&t->fd, NULL, NULL, NULL);
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        if (chdir(W.tmpdir) == 0)
            execve(SITR_BIN, cl.argv, cl.envp);
        _exit(127);
    }
}

/* Reads until the output after the last expectation holds want.  Fails
 * at the end of the output, or when nothing comes for 60 s (a prompt that
 * never appears, not a measure of speed). */
static void tty_expect(tty_run_t *t, const char *want)
{
    for (;;) {
        t->out[t->len] = '\0';
        const char *at = strstr(t->out + t->seen, want);
        if (at != NULL) {
            t->seen = (size_t)(at - t->out) + strlen(want);
            return;
        }
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        ssize_t n = -1;
        if (poll(&p, 1, 60000) > 0 && t->len + 1 < sizeof t->out)
            n = read(t->fd, t->out + t->len, sizeof t->out - 1 - t->len);
        if (n <= 0)
            fail_msg("'%s' never came; the terminal shows:\n%s", want, t->out);
        t->len += (size_t)n;
    }
}

static void tty_type(tty_run_t *t, const char *line)
{
    assert_int_equal(write(t->fd, line, strlen(line)), (ssize_t)strlen(line));
    assert_int_equal(write(t->fd, "\r", 1), 1);
}

/* Reads the rest of the output and returns the exit status. */
static int tty_finish(tty_run_t *t)
{
    for (;;) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        ssize_t n = -1;
        if (poll(&p, 1, 60000) > 0 && t->len + 1 < sizeof t->out)
            n = read(t->fd, t->out + t->len, sizeof t->out - 1 - t->len);
        if (n <= 0)
            break; /* EIO once sitr has closed the terminal */
        t->len += (size_t)n;
    }
    t->out[t->len] = '\0';
    close(t->fd);
    int ws;
    while (waitpid(t->pid, &ws, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* ---- the database ------------------------------------------------------------ */

static long long case_id_of(const char *ref)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM cases WHERE reference = '%s'", ref);
    return pgt_scalar(W.db_url, sql);
}

static long long live_images(long long id)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_images WHERE case_id = %lld AND erased_at IS NULL", id);
    return pgt_scalar(W.db_url, sql);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The dihedral variants of a jsonl record that the server stores besides
 * the plain hash: distinct, not equal to pdq, sorted, joined with ','. */
static void expected_variants(const json_t *rec, char *out, size_t outsz)
{
    const char *pdq = json_string_value(json_object_get(rec, "pdq"));
    const json_t *d = json_object_get(rec, "dihedral");
    const char *v[8];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(d); i++) {
        const char *h = json_string_value(json_array_get(d, i));
        int dup = strcmp(h, pdq) == 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcmp(v[k], h) == 0;
        if (!dup)
            v[n++] = h;
    }
    qsort(v, n, sizeof v[0], cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(out, i ? "," : "", outsz - strlen(out) - 1);
        strncat(out, v[i], outsz - strlen(out) - 1);
    }
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    snprintf(W.tmpdir, sizeof W.tmpdir, "%s/cli_case_e2e.XXXXXX", SITR_BINARY_DIR);
    if (mkdtemp(W.tmpdir) == NULL)
        return -1;
    W.db_url = sitr_e2e_migrated_db("cli_case_e2e");
    if (!W.db_url)
        return -1;
    static char url_var[1200], per_req[64];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    snprintf(per_req, sizeof per_req, "SITR_MAX_IMAGES_PER_REQUEST=%d", MAX_PER_REQUEST);
    const char *env[] = {url_var, per_req, "SITR_CASE_RATE=1000", NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    snprintf(W.server_url, sizeof W.server_url, "http://127.0.0.1:%d", W.srv.port);
    return sitr_e2e_wait_ready(&W.srv, 20000);
}

static int teardown(void **state)
{
    (void)state;
    int rc = sitr_e2e_stop(&W.srv);
    pgt_run("rm -rf '%s'", W.tmpdir);
    free(W.db_url);
    return rc == 0 ? 0 : -1;
}

/* ---- tests ---------------------------------------------------------------------- */

/* `sitr hash --format jsonl folder`: n records, in recs. */
static void hash_folder(const char *folder, json_t **recs, size_t n)
{
    run_t h = run_sitr(NULL, (const char *[]){"hash", "--format", "jsonl", folder, NULL});
    expect_status(&h, 0);
    size_t nrec = 0;
    for (char *line = strtok(h.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        assert_true(nrec < n);
        recs[nrec] = json_loads(line, 0, NULL);
        assert_non_null(recs[nrec]);
        nrec++;
    }
    assert_int_equal(nrec, n);
    run_free(&h);
}

/* SQL: case id holds exactly the n images of recs with the same hashes;
 * frees recs. */
static void expect_case_holds(long long id, json_t **recs, size_t nrec)
{
    assert_int_equal(live_images(id), (long long)nrec);
    for (size_t i = 0; i < nrec; i++) {
        const char *sha = json_string_value(json_object_get(recs[i], "sha256"));
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(encode(i.pdq, 'hex'), ''), coalesce(i.quality, -1), "
                 "encode(i.md5, 'hex'), (SELECT coalesce(string_agg(encode(v.pdq, 'hex'), ',' "
                 "ORDER BY encode(v.pdq, 'hex')), '') FROM case_image_variants v "
                 "WHERE v.image_id = i.id) FROM case_images i "
                 "WHERE i.case_id = %lld AND i.sha256 = decode('%s', 'hex')",
                 id, sha);
        PGresult *res = pgt_exec(W.db_url, sql);
        assert_int_equal(PQntuples(res), 1);
        int quality = (int)json_integer_value(json_object_get(recs[i], "quality"));
        assert_string_equal(PQgetvalue(res, 0, 2),
                            json_string_value(json_object_get(recs[i], "md5")));
        if (quality >= 50) {
            assert_string_equal(PQgetvalue(res, 0, 0),
                                json_string_value(json_object_get(recs[i], "pdq")));
            assert_int_equal(atoi(PQgetvalue(res, 0, 1)), quality);
            char want[8 * 66];
            expected_variants(recs[i], want, sizeof want);
            assert_string_equal(PQgetvalue(res, 0, 3), want);
        } else {
            assert_string_equal(PQgetvalue(res, 0, 0), "");
        }
        PQclear(res);
        json_decref(recs[i]);
    }
}

/* The case holds exactly what `sitr hash --format jsonl` computes. */
static void test_create_matches_hash(void **state)
{
    (void)state;
    assert_int_equal(pdqt_vendored()->bridge, N_BRIDGE);
    json_t *recs[N_BRIDGE];
    hash_folder(BRIDGE, recs, N_BRIDGE);

    snprintf(W.secret_file, sizeof W.secret_file, "%s/secret", W.tmpdir);
    run_t c = run_sitr(NULL, (const char *[]){"case", "create", "--server", W.server_url, "--save",
                                              W.secret_file, BRIDGE, NULL});
    expect_status(&c, 0);
    expect_contains(c.out, "shown only this once");
    expect_contains(c.out, "Write down these two codes now");
    char with[64];
    snprintf(with, sizeof with, "with %d picture(s)", N_BRIDGE);
    expect_contains(c.out, with);
    const char *p = strstr(c.out, "Case number:");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "Case number: %127s", W.ref), 1);
    p = strstr(c.out, "Secret code:");
    assert_non_null(p);
    char shown[128];
    assert_int_equal(sscanf(p, "Secret code: %127s", shown), 1);
    /* It says which server it used, and saves that server (its URL only,
     * never the case number or the secret) for the next commands. */
    char from[200];
    snprintf(from, sizeof from, "Server: %s (from --server)", W.server_url);
    expect_contains(c.err, from);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config/sitr/server", W.tmpdir);
    struct stat cst;
    assert_int_equal(stat(cfg, &cst), 0);
    assert_int_equal(cst.st_mode & 0777, 0600);
    char *cfg_text = read_file(cfg, NULL);
    expect_contains(cfg_text, W.server_url);
    assert_null(strstr(cfg_text, W.ref));
    assert_null(strstr(cfg_text, shown));
    free(cfg_text);

    /* --save: the secret alone, in a file only its owner can read. */
    struct stat st;
    assert_int_equal(stat(W.secret_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *saved = read_file(W.secret_file, NULL);
    assert_int_equal(sscanf(saved, "%127s", W.secret), 1);
    assert_string_equal(W.secret, shown);
    free(saved);
    /* The secret goes to stdout only, never into a warning or an error. */
    assert_null(strstr(c.err, W.secret));
    /* --save never overwrites: a second create with the same file is
     * refused before anything is sent. */
    long long cases_before = pgt_scalar(W.db_url, "SELECT count(*) FROM cases");
    run_t again = run_sitr(NULL, (const char *[]){"case", "create", "--server", W.server_url,
                                                  "--save", W.secret_file, BRIDGE, NULL});
    expect_status(&again, 1);
    expect_contains(again.err, "already exists");
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM cases"), cases_before);
    run_free(&again);

    /* SQL: the same images with the same hashes. */
    expect_case_holds(case_id_of(W.ref), recs, N_BRIDGE);
    run_free(&c);
}

/* The same on the extended corpus's 12 bridge-mods files, in a second case. */
static void test_create_matches_hash_extended(void **state)
{
    (void)state;
    const pdqt_corpus_t *x = pdqt_extended("case from its bridge-mods");
    if (x == NULL)
        return;
    char folder[1200];
    pdqt_path(x, "bridge-mods", folder, sizeof folder);
    json_t *recs[MAX_BRIDGE];
    assert_true(x->bridge <= MAX_BRIDGE);
    hash_folder(folder, recs, (size_t)x->bridge);
    run_t c =
        run_sitr(NULL, (const char *[]){"case", "create", "--server", W.server_url, folder, NULL});
    expect_status(&c, 0);
    char with[64], ref[128];
    snprintf(with, sizeof with, "with %d picture(s)", x->bridge);
    expect_contains(c.out, with);
    const char *p = strstr(c.out, "Case number:");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "Case number: %127s", ref), 1);
    expect_case_holds(case_id_of(ref), recs, (size_t)x->bridge);
    run_free(&c);
}

static void test_status(void **state)
{
    (void)state;
    assert_true(W.ref[0] != '\0');
    char env_secret[200];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);

    /* From the environment, readable text. */
    run_t r = run_sitr((const char *[]){env_secret, NULL},
                       (const char *[]){"case", "status", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 0);
    char want[200];
    snprintf(want, sizeof want, "Case %s", W.ref);
    expect_contains(r.out, want);
    char images[64];
    snprintf(images, sizeof images, "Pictures protected: %d", N_BRIDGE);
    expect_contains(r.out, images);
    expect_contains(r.out, "What happened:");
    expect_contains(r.out, "Case created with ");
    expect_contains(r.out, "picture(s) added.");
    run_free(&r);

    /* From a file, as JSON; the server URL from SITR_SERVER. */
    char server_env[128];
    snprintf(server_env, sizeof server_env, "SITR_SERVER=%s", W.server_url);
    r = run_sitr(
        (const char *[]){server_env, NULL},
        (const char *[]){"case", "status", "--json", "--secret-file", W.secret_file, W.ref, NULL});
    expect_status(&r, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "case")), W.ref);
    assert_int_equal(json_integer_value(json_object_get(j, "images")), N_BRIDGE);
    json_decref(j);
    assert_null(strstr(r.err, "other users")); /* the --save file is private */
    run_free(&r);

    /* A secret file others can read still works, with a warning. */
    char open_file[600];
    snprintf(open_file, sizeof open_file, "%s/open-secret", W.tmpdir);
    FILE *f = fopen(open_file, "w");
    assert_non_null(f);
    fprintf(f, "  %s  \nsecond line ignored\n", W.secret);
    fclose(f);
    assert_int_equal(chmod(open_file, 0644), 0);
    r = run_sitr(NULL, (const char *[]){"case", "status", "--server", W.server_url, "--secret-file",
                                        open_file, W.ref, NULL});
    expect_status(&r, 0);
    expect_contains(r.err, "can be read by other users");
    run_free(&r);

    /* A wrong (well-formed) secret: a failure with a clear message. */
    char wrong[SITR_TOKEN_MAX_LEN + 1], wrong_env[200];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, wrong, sizeof wrong), 0);
    snprintf(wrong_env, sizeof wrong_env, "SITR_CASE_SECRET=%s", wrong);
    r = run_sitr((const char *[]){wrong_env, NULL},
                 (const char *[]){"case", "status", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "no case matches this case number and secret");
    assert_string_equal(r.out, "");
    run_free(&r);

    /* A malformed secret: caught here by the check symbol, nothing sent. */
    r = run_sitr((const char *[]){"SITR_CASE_SECRET=not-a-secret", NULL},
                 (const char *[]){"case", "status", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "SITR_CASE_SECRET does not hold a case secret code");
    run_free(&r);

    /* The secret as written on paper: lower case, spaces, O for 0 and L
     * for 1; and the case number the same way. */
    char typed[64], typed_ref[64];
    size_t k = 0;
    for (const char *q = W.secret; *q && k + 1 < sizeof typed; q++)
        typed[k++] = *q == '-' ? ' ' : *q == '0' ? 'o' : *q == '1' ? 'L' : (char)tolower(*q);
    typed[k] = '\0';
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", typed);
    k = 0;
    for (const char *q = W.ref; *q && k + 1 < sizeof typed_ref; q++)
        typed_ref[k++] = *q == '-' ? ' ' : (char)tolower(*q);
    typed_ref[k] = '\0';
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "status", "--server", W.server_url, typed_ref, NULL});
    expect_status(&r, 0);
    expect_contains(r.out, W.ref);
    run_free(&r);
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);

    /* Technical detail only under --verbose. */
    r = run_sitr(
        (const char *[]){wrong_env, NULL},
        (const char *[]){"case", "status", "--verbose", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "no case matches");
    expect_contains(r.err, "HTTP 404, case_not_found");
    run_free(&r);

    /* No secret and no terminal to ask: says how to give it. */
    r = run_sitr(NULL, (const char *[]){"case", "status", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "--secret-file");
    expect_contains(r.err, "SITR_CASE_SECRET");
    run_free(&r);

    /* The secret is never an argument. */
    r = run_sitr(
        NULL, (const char *[]){"case", "status", "--server", W.server_url, W.ref, W.secret, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "never given as an argument");
    run_free(&r);

    /* Nobody listening: a clear transport error. */
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "status", "--server", "http://127.0.0.1:1", W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "no answer from the server http://127.0.0.1:1.");
    run_free(&r);
}

static void test_add(void **state)
{
    (void)state;
    long long id = case_id_of(W.ref);
    char env_secret[200];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);
    /* One new image and one the case already holds. */
    run_t r =
        run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "add", "--server", W.server_url, W.ref,
                                  PDQ_DIR "/misc-images/small.jpg", BRIDGE "/aaa-orig.jpg", NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "1 picture(s) and 0 video(s) (1 already in it, skipped)");
    char holds[64];
    snprintf(holds, sizeof holds, "It now holds %d picture(s)", N_BRIDGE + 1);
    expect_contains(r.out, holds);
    run_free(&r);
    assert_int_equal(live_images(id), N_BRIDGE + 1);

    /* A file that is not an image is left out, the rest still sent; with
     * nothing hashable, nothing is sent. */
    char junk[600];
    snprintf(junk, sizeof junk, "%s/notes.txt", W.tmpdir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not an image\n", f);
    fclose(f);
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "add", "--server", W.server_url, W.ref, junk, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "notes.txt: not a picture or a video that sitr can read: refused");
    expect_contains(r.err, "nothing was sent");
    run_free(&r);
    assert_int_equal(live_images(id), N_BRIDGE + 1);
}

/* Videos: hashed here (5 frames a second, dihedral and trimmed hashes) and
 * sent as hashes in "videos"; the case holds the frames the server kept
 * (quality >= 50), the digests, and says so in the status.  A video the
 * case already holds is skipped. */
static void test_add_video(void **state)
{
    (void)state;
    long long id = case_id_of(W.ref);
    char env_secret[200];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);
    const char *video = SITR_SOURCE_DIR "/tests/data/vpdq/videos/test-padded-dimensions.mp4";
    run_t r =
        run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "add", "--server", W.server_url, W.ref, video, NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "0 picture(s) and 1 video(s) (0 already in it, skipped)");
    expect_contains(r.out, "and 1 video(s).");
    expect_contains(r.out, "no video and no file name left");
    run_free(&r);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_videos WHERE case_id = %lld AND erased_at IS NULL "
             "AND frame_count > 0 AND md5 IS NOT NULL AND sha256 IS NOT NULL",
             id);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);
    /* The frames the CLI hashed at 0.2 s per hash, those of quality >= 50. */
    run_t h = run_sitr(NULL, (const char *[]){"hash", "--format", "jsonl", "--seconds-per-hash",
                                              "0.2", video, NULL});
    expect_status(&h, 0);
    json_t *v = json_loads(h.out, 0, NULL);
    assert_non_null(v);
    long long usable = 0;
    json_t *frames = json_object_get(v, "frames");
    for (size_t i = 0; i < json_array_size(frames); i++)
        usable += json_integer_value(json_object_get(json_array_get(frames, i), "quality")) >= 50;
    snprintf(sql, sizeof sql,
             "SELECT frame_count FROM case_videos WHERE case_id = %lld AND sha256 = "
             "decode('%s', 'hex')",
             id, json_string_value(json_object_get(v, "sha256")));
    assert_true(usable > 0);
    assert_int_equal(pgt_scalar(W.db_url, sql), usable);
    json_decref(v);
    run_free(&h);

    /* Again: already held, nothing added. */
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "add", "--server", W.server_url, W.ref, video, NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "0 picture(s) and 0 video(s) (");
    run_free(&r);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_videos WHERE case_id = %lld", id);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);

    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "status", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "Videos protected: 1");
    expect_contains(r.out, "1 video(s) added");
    run_free(&r);
}

/* A server that takes fewer frames per video than the CLI hashed (a long
 * recording at 5 frames a second): the CLI halves the video's frames until
 * the server takes them, says so, and the case holds the video. */
static void test_create_video_thinned(void **state)
{
    (void)state;
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var, "SITR_MAX_VIDEO_FRAMES=10", "SITR_CASE_RATE=1000", NULL};
    sitr_e2e_server_t srv;
    assert_int_equal(sitr_e2e_start(&srv, env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&srv, 20000), 0);
    char server[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%d", srv.port);
    /* 5 s at 30 fps: 25 frames at 0.2 s per hash, then 13, then 7. */
    const char *video = SITR_SOURCE_DIR "/tests/data/vpdq/videos/test-padded-dimensions.mp4";
    run_t r = run_sitr(NULL, (const char *[]){"case", "create", "--server", server, video, NULL});
    expect_status(&r, 0);
    expect_contains(r.err, "sending 13 of 25 frames");
    expect_contains(r.err, "sending 7 of 13 frames");
    run_free(&r);
    assert_int_equal(sitr_e2e_stop(&srv), 0);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM case_videos v JOIN cases c ON "
                                          "c.id = v.case_id WHERE c.id = (SELECT max(id) FROM "
                                          "cases) AND v.frame_count BETWEEN 1 AND 7"),
                     1);
}

static void test_report(void **state)
{
    (void)state;
    char env_secret[200];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);
    run_t r = run_sitr((const char *[]){env_secret, NULL},
                       (const char *[]){"case", "report", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    if (j == NULL)
        fail_msg("report is not JSON: %s", r.out);
    assert_string_equal(json_string_value(json_object_get(j, "case")), W.ref);
    assert_non_null(json_object_get(j, "summary"));
    json_decref(j);
    run_free(&r);

    /* The printable page, in French, private to its owner. */
    char page[600];
    snprintf(page, sizeof page, "%s/report.html", W.tmpdir);
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "report", "--server", W.server_url, "--html", page,
                                  "--lang", "fr", W.ref, NULL});
    expect_status(&r, 0);
    expect_contains(r.err, "Ouvrez-le dans un navigateur web");
    run_free(&r);
    struct stat st;
    assert_int_equal(stat(page, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *html = read_file(page, NULL);
    expect_contains(html, "<!DOCTYPE html>");
    expect_contains(html, "lang=\"fr\"");
    expect_contains(html, W.ref);
    free(html);

    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "report", "--server", W.server_url, "--html", page,
                                  "--lang", "de", W.ref, NULL});
    expect_status(&r, 2);
    run_free(&r);
    r = run_sitr((const char *[]){"SITR_CASE_SECRET=00000-00000-00000-00000-00000-00000", NULL},
                 (const char *[]){"case", "report", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 1);
    run_free(&r);
}

/* The server is never guessed: none named is a usage error that says how;
 * SITR_SERVER and the file create wrote are used and named; a config file
 * others could change is refused. */
static void test_server_choice(void **state)
{
    (void)state;
    char env_secret[200], empty_cfg[700], server_env[128], want[1200];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);
    snprintf(empty_cfg, sizeof empty_cfg, "XDG_CONFIG_HOME=%s/empty-config", W.tmpdir);
    run_t r = run_sitr((const char *[]){env_secret, empty_cfg, NULL},
                       (const char *[]){"case", "status", W.ref, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "no server named");
    expect_contains(r.err, "--server URL");
    assert_null(strstr(r.err, "127.0.0.1"));
    run_free(&r);

    snprintf(server_env, sizeof server_env, "SITR_SERVER=%s", W.server_url);
    r = run_sitr((const char *[]){env_secret, empty_cfg, server_env, NULL},
                 (const char *[]){"case", "status", W.ref, NULL});
    expect_status(&r, 0);
    snprintf(want, sizeof want, "Server: %s (from SITR_SERVER)", W.server_url);
    expect_contains(r.err, want);
    run_free(&r);

    /* The file create writes (test_create_matches_hash checks that it
     * does; later creates in this suite used other servers). */
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config/sitr/server", W.tmpdir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "# a comment\n\n  %s  \n", W.server_url);
    fclose(f);
    assert_int_equal(chmod(cfg, 0600), 0);
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "status", W.ref, NULL});
    expect_status(&r, 0);
    snprintf(want, sizeof want, "Server: %s (saved in %s/config/sitr/server", W.server_url,
             W.tmpdir);
    expect_contains(r.err, want);
    run_free(&r);

    assert_int_equal(chmod(cfg, 0666), 0);
    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "status", W.ref, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "cannot be trusted");
    run_free(&r);
    assert_int_equal(chmod(cfg, 0600), 0);
}

/* Help, errors and withdrawal in Arabic and French, from LANG (locales
 * that need not be installed: the words are compiled in), LANGUAGE, and
 * --lang; the confirmation word in the language. */
static void test_languages(void **state)
{
    (void)state;
    char env_secret[200], wrong_env[200];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);
    char wrong[SITR_TOKEN_MAX_LEN + 1];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_SECRET, wrong, sizeof wrong), 0);
    snprintf(wrong_env, sizeof wrong_env, "SITR_CASE_SECRET=%s", wrong);

    run_t r = run_sitr((const char *[]){"LANG=ar_MA.UTF-8", NULL},
                       (const char *[]){"case", "--help", NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "فتح ملف لدى خدمة sitr ومتابعته.");
    expect_contains(r.out, "لا يُخمَّن الخادم أبدًا.");
    run_free(&r);
    r = run_sitr((const char *[]){"LANG=fr_FR.UTF-8", NULL}, (const char *[]){"--help", NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "Utilisation : sitr [--lang en|fr|ar]");
    run_free(&r);

    /* A wrong secret, in plain words, no HTTP jargon. */
    r = run_sitr((const char *[]){"LANG=ar_MA.UTF-8", wrong_env, NULL},
                 (const char *[]){"case", "status", W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "لا يوجد ملف بهذا الرقم وهذا الرمز السري.");
    assert_null(strstr(r.err, "HTTP"));
    assert_null(strstr(r.err, "case_not_found"));
    run_free(&r);
    r = run_sitr((const char *[]){"LC_ALL=C.UTF-8", "LANGUAGE=fr:en", wrong_env, NULL},
                 (const char *[]){"case", "status", W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err,
                    "aucun dossier ne correspond à ce numéro de dossier et à ce code secret");
    run_free(&r);
    /* --lang wins over the environment. */
    r = run_sitr((const char *[]){"LANG=fr_FR.UTF-8", wrong_env, NULL},
                 (const char *[]){"case", "status", "--lang", "ar", W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "لا يوجد ملف بهذا الرقم");
    run_free(&r);
    r = run_sitr(NULL, (const char *[]){"--lang", "de", "case", "status", W.ref, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "unknown language 'de'");
    run_free(&r);

    /* Withdrawal without a terminal, in French: refused, and it says how. */
    r = run_sitr((const char *[]){"LANG=fr_FR.UTF-8", env_secret, NULL},
                 (const char *[]){"case", "withdraw", W.ref, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "Le rapport de preuves (dates, sites, ce qu'ils ont fait) disparaîtra");
    expect_contains(r.err, "ajoutez --yes pour retirer sans questions");
    run_free(&r);
    /* A file that is not a picture, in Arabic. */
    char junk[600];
    snprintf(junk, sizeof junk, "%s/notes.txt", W.tmpdir);
    r = run_sitr((const char *[]){"LANG=ar_MA.UTF-8", NULL}, (const char *[]){"hash", junk, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "ليس صورة ولا فيديو يستطيع sitr قراءته: مرفوض.");
    run_free(&r);
}

/* A case of one picture created in lang; its number and secret. */
static void small_case(const char *lang_env, char *ref, char *secret)
{
    run_t r = run_sitr((const char *[]){lang_env, NULL},
                       (const char *[]){"case", "create", "--json", "--server", W.server_url,
                                        PDQ_DIR "/misc-images/small.jpg", NULL});
    expect_status(&r, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    snprintf(ref, 64, "%s", json_string_value(json_object_get(j, "case")));
    snprintf(secret, 64, "%s", json_string_value(json_object_get(j, "secret")));
    json_decref(j);
    run_free(&r);
}

static long long live_cases(const char *ref)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cases WHERE reference = '%s' AND withdrawn_at IS NULL", ref);
    return pgt_scalar(W.db_url, sql);
}

/* Withdrawal at a terminal, as she would do it: in Arabic, told that the
 * report goes with the case, Enter saves it under the default name, the
 * Arabic word confirms.  In French: the secret typed at the prompt (a typo
 * first, then as on paper), the report saved under a name she types, a
 * wrong word keeps the case; then no report and the English word. */
static void test_withdraw_terminal(void **state)
{
    (void)state;
    char ref[64], secret[64], env_secret[128], server_env[128];
    snprintf(server_env, sizeof server_env, "SITR_SERVER=%s", W.server_url);
    small_case("LANG=ar_MA.UTF-8", ref, secret);
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", secret);

    tty_run_t t;
    tty_start(&t, (const char *[]){"LANG=ar_MA.UTF-8", env_secret, server_env, NULL},
              (const char *[]){"case", "withdraw", ref, NULL});
    tty_expect(&t, "وسيزول تقرير الإثبات أيضًا");
    tty_expect(&t, "هل تحفظ تقرير الإثبات أولًا؟");
    tty_type(&t, "");
    tty_expect(&t, "كُتب تقرير الإثبات للملف");
    tty_expect(&t, "اكتب سحب: ");
    tty_type(&t, "سحب");
    tty_expect(&t, "سُحب الملف");
    assert_int_equal(tty_finish(&t), 0);
    assert_int_equal(live_cases(ref), 0);
    char page[700];
    snprintf(page, sizeof page, "%s/sitr-report-%s.html", W.tmpdir, ref);
    struct stat st;
    assert_int_equal(stat(page, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *html = read_file(page, NULL);
    expect_contains(html, "lang=\"ar\"");
    expect_contains(html, ref);
    free(html);

    small_case("LANG=fr_FR.UTF-8", ref, secret);
    tty_start(&t, (const char *[]){"LANG=fr_FR.UTF-8", server_env, NULL},
              (const char *[]){"case", "withdraw", ref, NULL});
    tty_expect(&t, "Code secret du dossier");
    tty_type(&t, "abcde");
    tty_expect(&t, "ce n'est pas un code secret");
    tty_expect(&t, "Code secret du dossier");
    char typed[64];
    size_t k = 0;
    for (const char *q = secret; *q && k + 1 < sizeof typed; q++)
        typed[k++] = *q == '-' ? ' ' : (char)tolower(*q);
    typed[k] = '\0';
    tty_type(&t, typed);
    tty_expect(&t, "Le rapport de preuves (dates, sites, ce qu'ils ont fait) disparaîtra aussi.");
    tty_expect(&t, "Enregistrer d'abord le rapport de preuves ?");
    tty_type(&t, "rapport.html");
    tty_expect(&t, "Le rapport de preuves du dossier");
    tty_expect(&t, "tapez retirer : ");
    tty_type(&t, "peut-être");
    tty_expect(&t, "non confirmé : le dossier a été laissé tel quel.");
    assert_int_equal(tty_finish(&t), 1);
    assert_null(strstr(t.out, secret)); /* never echoed */
    assert_int_equal(live_cases(ref), 1);
    snprintf(page, sizeof page, "%s/rapport.html", W.tmpdir);
    html = read_file(page, NULL);
    expect_contains(html, "lang=\"fr\"");
    free(html);

    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", secret);
    tty_start(&t, (const char *[]){"LANG=fr_FR.UTF-8", env_secret, server_env, NULL},
              (const char *[]){"case", "withdraw", ref, NULL});
    tty_expect(&t, "Enregistrer d'abord le rapport de preuves ?");
    tty_type(&t, "non");
    tty_expect(&t, "tapez retirer : ");
    tty_type(&t, "WITHDRAW");
    tty_expect(&t, "est retiré");
    assert_int_equal(tty_finish(&t), 0);
    assert_int_equal(live_cases(ref), 0);
}

static void test_withdraw(void **state)
{
    (void)state;
    long long id = case_id_of(W.ref);
    char env_secret[200], sql[256];
    snprintf(env_secret, sizeof env_secret, "SITR_CASE_SECRET=%s", W.secret);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM cases WHERE id = %lld AND withdrawn_at IS NULL",
             id);

    /* Without --yes and without a terminal to ask: refused, nothing done. */
    run_t r = run_sitr((const char *[]){env_secret, NULL},
                       (const char *[]){"case", "withdraw", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "--yes");
    run_free(&r);
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);

    r = run_sitr(
        (const char *[]){env_secret, NULL},
        (const char *[]){"case", "withdraw", "--yes", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "withdrawn");
    run_free(&r);
    assert_int_equal(pgt_scalar(W.db_url, sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_images WHERE case_id = %lld AND (pdq IS NOT NULL OR "
             "md5 IS NOT NULL OR sha256 IS NOT NULL)",
             id);
    assert_int_equal(pgt_scalar(W.db_url, sql), 0);

    r = run_sitr((const char *[]){env_secret, NULL},
                 (const char *[]){"case", "status", "--server", W.server_url, W.ref, NULL});
    expect_status(&r, 1);
    expect_contains(r.err, "no case matches");
    run_free(&r);
}

/* ---- privacy: what leaves the computer ----------------------------------------- */

#define CAPTURE_MAX (4 << 20)

typedef struct capture {
    int lfd, port;
    volatile int stop;
    pthread_t tid;
    char *bytes; /* every byte received, all requests */
    size_t len;
    char *bodies[64];
    size_t body_len[64];
    int nreq;
} capture_t;

static int read_some(int fd, char *buf, size_t cap, size_t *len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
        return -1;
    ssize_t n = read(fd, buf + *len, cap - *len);
    if (n <= 0)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* Serves one connection: reads requests, records them, answers each. */
static void serve_conn(capture_t *c, int fd)
{
    static char buf[1 << 20];
    size_t len = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
            if (len == sizeof buf || read_some(fd, buf, sizeof buf, &len) < 0)
                return;
        size_t head = (size_t)(end - buf) + 4;
        size_t clen = 0;
        char *cl = memmem(buf, head, "Content-Length:", 15);
        if (cl == NULL)
            cl = memmem(buf, head, "content-length:", 15);
        if (cl != NULL)
            clen = strtoul(cl + 15, NULL, 10);
        while (len < head + clen)
            if (len == sizeof buf || read_some(fd, buf, sizeof buf, &len) < 0)
                return;
        size_t total = head + clen;
        if (c->len + total <= CAPTURE_MAX && c->nreq < 64) {
            memcpy(c->bytes + c->len, buf, total);
            c->len += total;
            c->bodies[c->nreq] = malloc(clen + 1);
            memcpy(c->bodies[c->nreq], buf + head, clen);
            c->bodies[c->nreq][clen] = '\0';
            c->body_len[c->nreq] = clen;
            c->nreq++;
        }
        const char *body;
        const char *status_line;
        if (strncmp(buf, "POST /v1/cases ", 15) == 0) {
            status_line = "201 Created";
            body = "{\"case\":\"SITR-TEST-CASE\",\"secret\":\"TEST-SECRET\",\"images\":5,"
                   "\"duplicates\":0,\"warnings\":[]}";
        } else {
            status_line = "200 OK";
            body = "{\"case\":\"SITR-TEST-CASE\",\"added\":5,\"images\":10,\"duplicates\":0,"
                   "\"warnings\":[]}";
        }
        char answer[512];
        snprintf(answer, sizeof answer,
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 status_line, strlen(body), body);
        if (write(fd, answer, strlen(answer)) < 0)
            return;
        memmove(buf, buf + total, len - total);
        len -= total;
    }
}

static void *capture_main(void *arg)
{
    capture_t *c = arg;
    while (!c->stop) {
        struct pollfd p = {.fd = c->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(c->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_conn(c, fd);
        close(fd);
    }
    return NULL;
}

/* Rabin-Karp over 64-byte windows: hash of w[0..64). */
#define WIN 64
static const uint64_t RK_B = 1099511628211ULL;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 if any 64-byte window of file occurs in hay. */
static int shares_window(const unsigned char *file, size_t flen, const unsigned char *hay,
                         size_t hlen)
{
    if (flen < WIN || hlen < WIN)
        return 0;
    uint64_t top = 1; /* B^(WIN-1) */
    for (int i = 0; i < WIN - 1; i++)
        top *= RK_B;
    size_t nh = hlen - WIN + 1;
    uint64_t *hs = malloc(nh * sizeof *hs);
    assert_non_null(hs);
    uint64_t h = 0;
    for (size_t i = 0; i < WIN; i++)
        h = h * RK_B + hay[i];
    for (size_t i = 0; i < nh; i++) {
        hs[i] = h;
        if (i + WIN < hlen)
            h = (h - hay[i] * top) * RK_B + hay[i + WIN];
    }
    qsort(hs, nh, sizeof *hs, cmp_u64);
    int found = 0;
    h = 0;
    for (size_t i = 0; i < WIN; i++)
        h = h * RK_B + file[i];
    for (size_t i = 0; i + WIN <= flen && !found; i++) {
        if (bsearch(&h, hs, nh, sizeof *hs, cmp_u64) != NULL &&
            memmem(hay, hlen, file + i, WIN) != NULL)
            found = 1;
        if (i + WIN < flen)
            h = (h - file[i] * top) * RK_B + file[i + WIN];
    }
    free(hs);
    return found;
}

/* `sitr case create --batch 5` on corpus x's bridge-mods folder against a
 * recording listener. */
static void privacy_only_hashes_leave(const pdqt_corpus_t *x)
{
    char bridge[1200];
    pdqt_path(x, "bridge-mods", bridge, sizeof bridge);
    char **names = pdqt_bridge_names(x);
    const int n_bridge = x->bridge;
    capture_t c;
    memset(&c, 0, sizeof c);
    c.bytes = malloc(CAPTURE_MAX);
    assert_non_null(c.bytes);
    c.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c.lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(c.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(c.lfd, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(listen(c.lfd, 8), 0);
    c.port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&c.tid, NULL, capture_main, &c), 0);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", c.port);
    run_t r = run_sitr(
        NULL, (const char *[]){"case", "create", "--server", url, "--batch", "5", bridge, NULL});
    c.stop = 1;
    pthread_join(c.tid, NULL);
    close(c.lfd);
    expect_status(&r, 0);
    expect_contains(r.out, "SITR-TEST-CASE");
    run_free(&r);

    /* In batches of 5: create, then add(s) (12 images: create, add, add). */
    assert_int_equal(c.nreq, (n_bridge + 4) / 5);
    assert_true(memmem(c.bytes, c.len, "POST /v1/cases HTTP/1.1", 23) != NULL);
    size_t items = 0, body_total = 0;
    for (int i = 0; i < c.nreq; i++) {
        json_error_t e;
        json_t *j = json_loads(c.bodies[i], 0, &e);
        if (j == NULL)
            fail_msg("request %d body is not JSON: %s", i, e.text);
        /* Only "images", each with only hash members. */
        assert_int_equal(json_object_size(j), 1);
        json_t *imgs = json_object_get(j, "images");
        assert_true(json_is_array(imgs));
        for (size_t k = 0; k < json_array_size(imgs); k++) {
            const char *key;
            json_t *v;
            json_object_foreach(json_array_get(imgs, k), key, v)
            {
                if (strcmp(key, "pdq") != 0 && strcmp(key, "quality") != 0 &&
                    strcmp(key, "dihedral") != 0 && strcmp(key, "md5") != 0 &&
                    strcmp(key, "sha256") != 0)
                    fail_msg("request %d image %zu carries '%s'", i, k, key);
            }
        }
        items += json_array_size(imgs);
        body_total += c.body_len[i];
        json_decref(j);
        free(c.bodies[i]);
    }
    assert_int_equal(items, n_bridge);
    /* An image is ~900 bytes of hex hashes; the files are megabytes. */
    if (body_total > (size_t)n_bridge * 1024)
        fail_msg("%zu body bytes for %d images", body_total, n_bridge);
    /* No file name or folder name. */
    assert_null(memmem(c.bytes, c.len, "bridge", 6));
    assert_null(memmem(c.bytes, c.len, ".jpg", 4));
    assert_null(memmem(c.bytes, c.len, "orig", 4));

    /* No 64-byte run of any file's bytes, anywhere in any request. */
    size_t file_total = 0;
    for (int i = 0; i < n_bridge; i++) {
        char path[1600];
        snprintf(path, sizeof path, "%s/%s", bridge, names[i]);
        size_t flen;
        char *bytes = read_file(path, &flen);
        file_total += flen;
        if (shares_window((const unsigned char *)bytes, flen, (const unsigned char *)c.bytes,
                          c.len))
            fail_msg("a request carries 64 bytes of %s", names[i]);
        free(bytes);
    }
    assert_true(file_total > 100 * body_total);
    /* The check itself can fail: a request that did carry file bytes. */
    size_t flen;
    char path[1600];
    snprintf(path, sizeof path, "%s/square-128x128.jpg", bridge);
    char *bytes = read_file(path, &flen);
    assert_true(shares_window((const unsigned char *)bytes, flen,
                              (const unsigned char *)bytes + flen / 2, WIN));
    free(bytes);
    free(c.bytes);
    pdqt_names_free(names);
}

static void test_privacy_only_hashes_leave(void **state)
{
    (void)state;
    privacy_only_hashes_leave(pdqt_vendored());
    const pdqt_corpus_t *x = pdqt_extended("privacy check on its bridge-mods");
    if (x != NULL)
        privacy_only_hashes_leave(x);
}

static void test_usage(void **state)
{
    (void)state;
    run_t r = run_sitr(NULL, (const char *[]){"case", "--help", NULL});
    expect_status(&r, 0);
    expect_contains(r.out, "never taken as a command-line argument");
    expect_contains(r.out, "Exit status: 0 done, 1 failure");
    run_free(&r);
    r = run_sitr(NULL, (const char *[]){"case", "status", NULL});
    expect_status(&r, 2);
    run_free(&r);
    r = run_sitr(NULL, (const char *[]){"case", "create", "--server", "ftp://x", BRIDGE, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "http:// or https://");
    run_free(&r);
    r = run_sitr(NULL, (const char *[]){"case", "status", "SITR-../../x", NULL});
    expect_status(&r, 2);
    run_free(&r);
    /* One mistyped symbol in a real case number: refused offline by the
     * check symbol, exactly as the server would refuse it. */
    char ref[SITR_TOKEN_REFERENCE_LEN + 1], typo[SITR_TOKEN_REFERENCE_LEN + 1];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_REFERENCE, ref, sizeof ref), 0);
    memcpy(typo, ref, sizeof typo);
    typo[7] = typo[7] == '7' ? '8' : '7';
    r = run_sitr(NULL, (const char *[]){"case", "status", typo, NULL});
    expect_status(&r, 2);
    expect_contains(r.err, "is not a case number");
    run_free(&r);
    r = run_sitr(NULL, (const char *[]){"case", "frobnicate", NULL});
    expect_status(&r, 2);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_privacy_only_hashes_leave),
        cmocka_unit_test(test_create_matches_hash),
        cmocka_unit_test(test_create_matches_hash_extended),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_add_video),
        cmocka_unit_test(test_create_video_thinned),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_server_choice),
        cmocka_unit_test(test_languages),
        cmocka_unit_test(test_withdraw_terminal),
        cmocka_unit_test(test_withdraw),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
