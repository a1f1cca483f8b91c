/* msnd: the MSN Messenger (MSNP2-7) server, and its account admin
 * subcommands. See docs/msnd.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dbtool.h"
#include "log.h"
#include "server.h"
#include "store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: msnd [--config FILE] [options]          run the server\n"
            "       msnd user add --db FILE EMAIL PASSWORD [FRIENDLY NAME]\n"
            "       msnd user passwd --db FILE EMAIL PASSWORD\n"
            "       msnd user del --db FILE EMAIL\n"
            "       msnd user list --db FILE\n"
            "       msnd --self-check | --version | --help\n"
            "A PASSWORD of '-' is read from standard input (keeps it out of ps).\n\n"
            "options:\n");
    config_usage(f);
}

/* Split argv into --flags (applied to cfg) and positional arguments. */
static int parse_args(int argc, char **argv, int first, msnd_config *cfg, char **pos, int *npos, int maxpos) {
    char err[512];
    /* The config file first, so flags override it. */
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            if (config_load_file(cfg, argv[i + 1], err, sizeof err) != 0) {
                fprintf(stderr, "msnd: %s\n", err);
                return -1;
            }
            snprintf(cfg->config, sizeof cfg->config, "%s", argv[i + 1]);
        } else if (strncmp(a, "--config=", 9) == 0) {
            if (config_load_file(cfg, a + 9, err, sizeof err) != 0) {
                fprintf(stderr, "msnd: %s\n", err);
                return -1;
            }
        }
    }
    *npos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            char name[64];
            const char *value;
            const char *eq = strchr(a, '=');
            if (eq) {
                snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
                value = eq + 1;
            } else {
                snprintf(name, sizeof name, "%s", a + 2);
                if (!strcmp(name, "log-invitations") && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
                    value = "yes";
                } else {
                    if (i + 1 >= argc) {
                        fprintf(stderr, "msnd: --%s needs a value\n", name);
                        return -1;
                    }
                    value = argv[++i];
                }
            }
            if (strcmp(name, "config") == 0) continue;
            if (config_set(cfg, name, value, err, sizeof err) != 0) {
                fprintf(stderr, "msnd: %s (see msnd --help)\n", err);
                return -1;
            }
        } else {
            if (*npos >= maxpos) {
                fprintf(stderr, "msnd: too many arguments\n");
                return -1;
            }
            pos[(*npos)++] = argv[i];
        }
    }
    return 0;
}

static int read_password(const char *arg, char *out, size_t cap) {
    if (strcmp(arg, "-") != 0) {
        if (strlen(arg) >= cap) return -1;
        snprintf(out, cap, "%s", arg);
    } else {
        if (!fgets(out, (int)cap, stdin)) return -1;
        out[strcspn(out, "\r\n")] = '\0';
    }
    if (!out[0]) return -1;
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return -1;
    return 0;
}

static void print_user(const store_user *u, void *ctx) {
    (void)ctx;
    char name[MSNP_MAX_NAME_ENCODED + 1];
    if (msnp_url_decode(msnp_str_c(u->name), name, sizeof name) < 0) snprintf(name, sizeof name, "%s", u->name);
    printf("%s\t%s\n", u->email, name);
}

static int user_cmd(int argc, char **argv) {
    msnd_config cfg;
    config_defaults(&cfg);
    char *pos[64];
    int npos;
    if (parse_args(argc, argv, 2, &cfg, pos, &npos, 64) != 0) return 2;
    if (npos < 1) {
        usage(stderr);
        return 2;
    }
    const char *sub = pos[0];
    char err[512];
    store *st = store_open(cfg.db, err, sizeof err);
    if (!st) {
        fprintf(stderr, "msnd: %s\n", err);
        return 1;
    }
    int rc = 0;
    char email[MSNP_MAX_EMAIL + 1], password[STORE_MAX_PASSWORD + 1];
    if (strcmp(sub, "list") == 0) {
        if (store_user_each(st, print_user, NULL) != STORE_OK) {
            fprintf(stderr, "msnd: %s\n", store_errmsg(st));
            rc = 1;
        }
    } else if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0 || strcmp(sub, "del") == 0) {
        int need = strcmp(sub, "del") == 0 ? 2 : 3;
        if (npos < need || email_normalize(msnp_str_c(pos[1]), email, sizeof email) != 0) {
            fprintf(stderr, npos < need ? "msnd: missing arguments (see msnd --help)\n"
                                        : "msnd: '%s' is not a valid e-mail address\n",
                    npos >= 2 ? pos[1] : "");
            store_close(st);
            return 2;
        }
        if (need == 3 && read_password(pos[2], password, sizeof password) != 0) {
            fprintf(stderr, "msnd: the password must be 1-%d printable characters\n", STORE_MAX_PASSWORD);
            store_close(st);
            return 2;
        }
        store_rc r;
        if (strcmp(sub, "add") == 0) {
            char plain[1024] = "", encoded[MSNP_MAX_NAME_ENCODED + 1];
            for (int i = 3; i < npos; i++) {
                size_t used = strlen(plain);
                snprintf(plain + used, sizeof plain - used, "%s%s", i > 3 ? " " : "", pos[i]);
            }
            if (!plain[0]) snprintf(plain, sizeof plain, "%s", email);
            if (msnp_url_encode(msnp_str_c(plain), encoded, sizeof encoded) < 0) {
                fprintf(stderr, "msnd: the friendly name is too long\n");
                store_close(st);
                return 2;
            }
            r = store_user_add(st, email, password, encoded);
            if (r == STORE_EXISTS) fprintf(stderr, "msnd: %s already exists\n", email);
        } else if (strcmp(sub, "passwd") == 0) {
            r = store_user_passwd(st, email, password);
        } else {
            r = store_user_del(st, email);
        }
        memset(password, 0, sizeof password);
        if (r == STORE_NOTFOUND) fprintf(stderr, "msnd: no account %s\n", email);
        else if (r == STORE_ERROR) fprintf(stderr, "msnd: %s\n", store_errmsg(st));
        rc = r == STORE_OK ? 0 : 1;
    } else {
        fprintf(stderr, "msnd: unknown user command '%s'\n", sub);
        rc = 2;
    }
    store_close(st);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "user") == 0) return user_cmd(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "db") == 0) return dbtool_main(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("msnd %s (libmsnp %s)\n", "0.1.0", msnp_version_string());
            return 0;
        }
        if (!strcmp(argv[i], "--self-check")) {
            char report[4096];
            int rc = msnp_self_check(report, sizeof report);
            fputs(report, stdout);
            return rc == 0 ? 0 : 1;
        }
    }
    msnd_config cfg;
    config_defaults(&cfg);
    char *pos[4];
    int npos;
    if (parse_args(argc, argv, 1, &cfg, pos, &npos, 4) != 0) return 2;
    if (npos > 0) {
        fprintf(stderr, "msnd: unexpected argument '%s' (see msnd --help)\n", pos[0]);
        return 2;
    }
    log_level lvl;
    if (log_level_parse(cfg.log_level, &lvl) != 0) {
        fprintf(stderr, "msnd: unknown log level '%s'\n", cfg.log_level);
        return 2;
    }
    if (log_open(cfg.log_file, lvl) != 0) {
        fprintf(stderr, "msnd: cannot open log file %s\n", cfg.log_file);
        return 1;
    }
    msnd_server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    char err[512];
    if (server_init(s, &cfg, err, sizeof err) != 0) {
        LOGE("cannot start", "error=\"%s\"", err);
        fprintf(stderr, "msnd: %s\n", err);
        server_free(s);
        free(s);
        log_close();
        return 1;
    }
    LOGI("ready", "role=%s db=%s", cfg.role, cfg.db);
    server_run(s);
    server_free(s);
    free(s);
    LOGI("stopped", "%s", "");
    log_close();
    return 0;
}
