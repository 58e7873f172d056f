/* sitr-admin key: the operator's Ed25519 key that signs evidence reports
 * (sitr/report_sign.h).  The key file holds the secret seed (mode 0600);
 * what the operator publishes is the public key and its identifier, which
 * officers use to check reports (`sitr report verify --public-key`, the
 * /verify page).  No database is needed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sitr/report_sign.h>

#include "admin.h"

static void print_public(const char *what, const sitr_sign_key_t *key)
{
    char id[SITR_SIGN_KEY_ID], b64[SITR_SIGN_PK_B64];
    sitr_sign_key_id(key->pk, id);
    sitr_sign_pk_base64(key->pk, b64);
    printf("%s\n  key id:     %s\n  public key: %s\n", what, id, b64);
}

int admin_key(const admin_opts_t *o, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: sitr-admin [--key-file PATH] key generate|show|rotate\n");
        return ADMIN_USAGE;
    }
    const char *path = o->key_file;
    if (!path || !path[0]) {
        fprintf(stderr, "sitr-admin: give the key file: --key-file PATH or SITR_REPORT_KEY_FILE\n");
        return ADMIN_USAGE;
    }
    sitr_sign_key_t key, old;
    sitr_err_t err = {0};
    int rc = ADMIN_FAIL;
    if (strcmp(argv[0], "generate") == 0) {
        if (sitr_sign_key_create(path, &key, &err) < 0) {
            fprintf(stderr,
                    "sitr-admin: %s (an existing key is never overwritten; see key "
                    "rotate)\n",
                    err.msg);
            return ADMIN_FAIL;
        }
        printf("report signing key written to %s (mode 0600)\n", path);
        print_public("publish this public key so that officers can check reports:", &key);
        rc = ADMIN_OK;
    } else if (strcmp(argv[0], "show") == 0) {
        if (sitr_sign_key_load(path, &key, &err) < 0) {
            fprintf(stderr, "sitr-admin: %s\n", err.msg);
            return ADMIN_FAIL;
        }
        print_public(path, &key);
        rc = ADMIN_OK;
    } else if (strcmp(argv[0], "rotate") == 0) {
        if (sitr_sign_key_load(path, &old, &err) < 0) {
            fprintf(stderr, "sitr-admin: %s\n", err.msg);
            return ADMIN_FAIL;
        }
        /* The old key is kept beside the new one, renamed with the time. */
        char kept[4096];
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        if ((size_t)snprintf(kept, sizeof kept, "%s.retired-%s", path, stamp) >= sizeof kept) {
            fprintf(stderr, "sitr-admin: key file path too long\n");
            sitr_sign_key_wipe(&old);
            return ADMIN_FAIL;
        }
        if (rename(path, kept) != 0) {
            perror("sitr-admin: rename");
            sitr_sign_key_wipe(&old);
            return ADMIN_FAIL;
        }
        if (sitr_sign_key_create(path, &key, &err) < 0) {
            fprintf(stderr, "sitr-admin: %s; the old key is back in place\n", err.msg);
            if (rename(kept, path) != 0)
                fprintf(stderr, "sitr-admin: and could not be moved back from %s\n", kept);
            sitr_sign_key_wipe(&old);
            return ADMIN_FAIL;
        }
        print_public("retired (kept in the file below; keep publishing its public key: reports "
                     "signed before today verify only with it):",
                     &old);
        printf("  file:       %s\n", kept);
        print_public("new (restart sitrd to sign with it, and publish it):", &key);
        sitr_sign_key_wipe(&old);
        rc = ADMIN_OK;
    } else {
        fprintf(stderr, "sitr-admin: unknown key command '%s' (generate, show, rotate)\n", argv[0]);
        return ADMIN_USAGE;
    }
    sitr_sign_key_wipe(&key);
    return rc;
}
