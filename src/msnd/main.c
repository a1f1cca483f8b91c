/* msnd: the MSN Messenger (MSNP2-7) server, and its account admin
 * subcommands. See docs/msnd.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <msnkit/visible.h>

#include "config.h"
#include "dbtool.h"
#include "log.h"
#include "server.h"
#include "store.h"

#define MSND_VERSION MSNKIT_VERSION

static void usage(FILE *f) {
    fprintf(f,
            "usage: msnd [options]                 run the server\n"
            "       msnd user COMMAND [options]    manage accounts (msnd user --help)\n"
            "       msnd db init|migrate [options] create, upgrade or copy the store (msnd db --help)\n"
            "       msnd --self-check | --version | --help\n"
            "Options may come in any order, before or after a subcommand.\n\n"
            "options:\n");
    config_usage(f);
}

static void user_usage(FILE *f) {
    fprintf(f,
            "usage: msnd user add    --db DB [--create] EMAIL [PASSWORD|-] [FRIENDLY NAME...]\n"
            "       msnd user passwd --db DB EMAIL [PASSWORD|-]\n"
            "       msnd user del    --db DB EMAIL\n"
            "       msnd user list   --db DB\n"
            "Without a PASSWORD (or with '-') it is read from standard input: asked for\n"
            "with echo off on a terminal, one line otherwise. A password on the command\n"
            "line shows in ps and the shell history.\n"
            "--db names an existing database; --create lets `user add` make a new one.\n"
            "--config FILE reads --db (and any other setting) from an INI file.\n");
}

/* The command line, parsed once: settings (applied after the config
 * file, so they win), the words that are not options, and the options of
 * msnd itself. */
typedef struct cli {
    const char *config;
    const char *from, *to; /* msnd db migrate */
    const char *names[128], *values[128];
    int nset;
    char *pos[64];
    int npos;
    int help, version, self_check, create;
} cli;

/* --name, --name=value or --name value; "--" ends the options. Every
 * problem is named: the option, and what is wrong with it. */
static int parse_cli(int argc, char **argv, cli *o) {
    memset(o, 0, sizeof *o);
    int only_words = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_words || a[0] != '-' || !a[1]) {
            if (o->npos == (int)(sizeof o->pos / sizeof o->pos[0])) {
                fprintf(stderr, "msnd: too many arguments\n");
                return -1;
            }
            o->pos[o->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_words = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            o->help = 1;
            continue;
        }
        if (a[1] != '-') {
            fprintf(stderr, "msnd: unknown option '%s' (see msnd --help)\n", a);
            return -1;
        }
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nlen == 0 || nlen >= sizeof name) {
            fprintf(stderr, "msnd: unknown option '%s' (see msnd --help)\n", a);
            return -1;
        }
        memcpy(name, a + 2, nlen);
        name[nlen] = '\0';
        int *bare = !strcmp(name, "version") ? &o->version
            : !strcmp(name, "self-check")    ? &o->self_check
            : !strcmp(name, "create")        ? &o->create
                                             : NULL;
        if (bare) {
            if (eq) {
                fprintf(stderr, "msnd: option '--%s' takes no value\n", name);
                return -1;
            }
            *bare = 1;
            continue;
        }
        /* msnd's own options that take a value; the rest are settings */
        const char **own = !strcmp(name, "config") ? &o->config
            : !strcmp(name, "from")                ? &o->from
            : !strcmp(name, "to")                  ? &o->to
                                                   : NULL;
        int kind = own ? 0 : config_kind(name);
        if (kind < 0) {
            fprintf(stderr, "msnd: unknown option '--%s' (see msnd --help)\n", name);
            return -1;
        }
        const char *value;
        if (eq) value = eq + 1;
        else if (kind == 1) value = "yes"; /* a yes/no flag alone means yes */
        else if (i + 1 < argc) value = argv[++i];
        else {
            fprintf(stderr, "msnd: option '--%s' needs a value\n", name);
            return -1;
        }
        if (own) {
            *own = value;
            continue;
        }
        if (o->nset == (int)(sizeof o->names / sizeof o->names[0])) {
            fprintf(stderr, "msnd: too many options\n");
            return -1;
        }
        o->names[o->nset] = a + 2; /* the stored name stops at '=' when applied */
        o->values[o->nset++] = value;
    }
    return 0;
}

/* The config file first, then the flags. */
static int apply_cli(const cli *o, msnd_config *cfg) {
    char err[2048]; /* a refused value is quoted whole (a list: up to 1 KiB) */
    if (o->config) {
        if (config_load_file(cfg, o->config, err, sizeof err) != 0) {
            fprintf(stderr, "msnd: %s\n", err);
            return -1;
        }
        snprintf(cfg->config, sizeof cfg->config, "%s", o->config);
    }
    for (int i = 0; i < o->nset; i++) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(o->names[i], "="), o->names[i]);
        if (config_set(cfg, name, o->values[i], err, sizeof err) != 0) {
            fprintf(stderr, "msnd: option '--%s': %s\n", name, err);
            return -1;
        }
    }
    return 0;
}

static int password_ok(const char *pw) {
    if (!pw[0] || strlen(pw) > STORE_MAX_PASSWORD) return 0;
    for (const char *p = pw; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* The terminal's settings from before echo was turned off for a
 * password: a signal that ends msnd at the prompt (Ctrl-C) puts them back
 * first, or the shell would be left not echoing what is typed. */
static struct termios prompt_saved;
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define PROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

static void prompt_interrupted(int sig) {
    tcsetattr(STDIN_FILENO, TCSANOW, &prompt_saved);
    signal(sig, SIG_DFL);
    raise(sig); /* delivered on return, with the default action */
}

static void prompt_signals_restore(const struct sigaction *old) {
    for (size_t i = 0; i < PROMPT_SIGNALS; i++) sigaction(prompt_signals[i], &old[i], NULL);
}

/* One line from stdin; on a terminal, asked for with echo off. */
static int read_line_from_stdin(const char *prompt, char *out, size_t cap) {
    int tty = isatty(STDIN_FILENO);
    struct termios saved, quiet;
    struct sigaction old[PROMPT_SIGNALS];
    if (tty) {
        /* Echo off before the prompt shows, so nothing typed after it
         * is echoed; nothing typed is discarded either. */
        if (tcgetattr(STDIN_FILENO, &saved) != 0) return -1;
        prompt_saved = saved;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = prompt_interrupted;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < PROMPT_SIGNALS; i++) sigaction(prompt_signals[i], &sa, &old[i]);
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) != 0) {
            prompt_signals_restore(old);
            return -1;
        }
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
    }
    char *got = fgets(out, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        prompt_signals_restore(old);
    }
    if (!got) return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int get_password(const char *arg, const char *email, char *out, size_t cap) {
    if (arg && strcmp(arg, "-") != 0) {
        snprintf(out, cap, "%s", arg);
        return 0;
    }
    char prompt[MSNP_MAX_EMAIL + 32];
    snprintf(prompt, sizeof prompt, "Password for %s: ", email);
    if (read_line_from_stdin(prompt, out, cap) != 0) return -1;
    if (isatty(STDIN_FILENO)) {
        char again[STORE_MAX_PASSWORD + 2];
        if (read_line_from_stdin("Again: ", again, sizeof again) != 0) return -1;
        int same = strcmp(out, again) == 0;
        memset(again, 0, sizeof again);
        if (!same) {
            fprintf(stderr, "msnd: the two passwords differ\n");
            return -2;
        }
    }
    return 0;
}

static void print_user(const store_user *u, void *ctx) {
    (void)ctx;
    char name[MSNP_MAX_NAME_ENCODED + 1];
    if (msnp_url_decode(msnp_str_c(u->name), name, sizeof name) < 0) snprintf(name, sizeof name, "%s", u->name);
    /* a name set by a client is its text: shown, never obeyed by the terminal */
    printf("%s\t", u->email);
    msnkit_put_visible(stdout, name, NULL);
    putchar('\n');
}

/* A --db that names a file (with or without "sqlite:") must name an
 * existing database unless --create; anything with "://" is a connection
 * string for the store. */
static int db_exists_or_create(const char *db, int create) {
    const char *file = store_sqlite_file(db);
    if (!file || create) return 0;
    if (access(file, F_OK) == 0) return 0;
    fprintf(stderr, "msnd: database %s: %s (check --db; `msnd user add --create` makes a new one)\n", db,
            strerror(errno));
    return -1;
}

/* `user add --create` that failed (a full disk) removes the database it
 * began, which would otherwise pass for an existing one from then on. */
static void remove_new_database(const char *path) {
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, tails[i]) < sizeof p) unlink(p);
    }
}

static int user_cmd(const cli *o, msnd_config *cfg) {
    if (o->npos < 2) {
        fprintf(stderr, "msnd: user: which command? (add, passwd, del or list; see msnd user --help)\n");
        return 2;
    }
    const char *sub = o->pos[1];
    char *const *args = o->pos + 2;
    int nargs = o->npos - 2;
    int is_add = !strcmp(sub, "add"), is_passwd = !strcmp(sub, "passwd"), is_del = !strcmp(sub, "del"),
        is_list = !strcmp(sub, "list");
    if (!is_add && !is_passwd && !is_del && !is_list) {
        fprintf(stderr, "msnd: unknown user command '%s' (see msnd user --help)\n", sub);
        return 2;
    }
    if (o->create && !is_add) {
        fprintf(stderr, "msnd: --create is for `msnd user add`\n");
        return 2;
    }
    int min = is_list ? 0 : 1, max = is_list ? 0 : is_del ? 1 : is_passwd ? 2 : 64;
    if (nargs < min || nargs > max) {
        fprintf(stderr, "msnd: user %s: %s (see msnd user --help)\n", sub,
                nargs < min ? "missing the e-mail address" : "too many arguments");
        return 2;
    }
    char email[MSNP_MAX_EMAIL + 1], password[STORE_MAX_PASSWORD + 2];
    if (!is_list && email_normalize(msnp_str_c(args[0]), email, sizeof email) != 0) {
        fprintf(stderr, "msnd: '%s' is not a valid e-mail address\n", args[0]);
        return 2;
    }
    /* The friendly name is checked with the other arguments: a refused one
     * must not leave a new database behind (--create) or follow a password
     * prompt. What the server refuses from a client (REA: 209) is not
     * stored from here either: it would reach every contact's screen. */
    char encoded[MSNP_MAX_NAME_ENCODED + 1];
    if (is_add) {
        char plain[1024] = "";
        for (int i = 2; i < nargs; i++) {
            size_t used = strlen(plain);
            snprintf(plain + used, sizeof plain - used, "%s%s", i > 2 ? " " : "", args[i]);
        }
        if (!plain[0]) snprintf(plain, sizeof plain, "%s", email);
        if (!msnp_text_valid(plain, strlen(plain))) {
            fprintf(stderr, "msnd: the friendly name must be UTF-8 text without control characters\n");
            return 2;
        }
        if (msnp_url_encode(msnp_str_c(plain), encoded, sizeof encoded) < 0) {
            fprintf(stderr,
                    "msnd: the friendly name is too long: at most %d bytes URL-encoded, as clients get it (a space, "
                    "%% or non-ASCII byte takes 3)\n",
                    MSNP_MAX_NAME_ENCODED);
            return 2;
        }
    }
    if (db_exists_or_create(cfg->db, o->create) != 0) return 1;
    if (is_add || is_passwd) {
        int r = get_password(nargs >= 2 ? args[1] : NULL, email, password, sizeof password);
        if (r == -1) fprintf(stderr, "msnd: no password given (none on standard input)\n");
        if (r != 0) return 2;
        if (!password_ok(password)) {
            memset(password, 0, sizeof password);
            fprintf(stderr, "msnd: the password must be 1-%d printable characters\n", STORE_MAX_PASSWORD);
            return 2;
        }
    }
    const char *file = store_sqlite_file(cfg->db);
    int fresh = is_add && o->create && file && access(file, F_OK) != 0;
    char err[512];
    store *st = store_open(cfg->db, err, sizeof err);
    if (!st) {
        memset(password, 0, sizeof password);
        fprintf(stderr, "msnd: %s (check --db)\n", err);
        if (fresh) remove_new_database(file);
        return 1;
    }
    int rc = 0;
    if (is_list) {
        if (store_user_each(st, print_user, NULL) != STORE_OK) {
            fprintf(stderr, "msnd: %s\n", store_errmsg(st));
            rc = 1;
        }
        store_close(st);
        return rc;
    }
    store_rc r;
    if (is_add) {
        r = store_user_add(st, email, password, encoded);
        if (r == STORE_EXISTS) fprintf(stderr, "msnd: %s already exists\n", email);
    } else if (is_passwd) {
        r = store_user_passwd(st, email, password);
    } else {
        r = store_user_del(st, email);
    }
    memset(password, 0, sizeof password);
    if (r == STORE_NOTFOUND) fprintf(stderr, "msnd: no account %s\n", email);
    else if (r == STORE_ERROR) fprintf(stderr, "msnd: %s\n", store_errmsg(st));
    rc = r == STORE_OK ? 0 : 1;
    store_close(st);
    if (rc != 0 && fresh) remove_new_database(file);
    return rc;
}

/* `msnd db init|migrate`: the database named by --db (or the --config
 * file's db =), or by --from and --to (dbtool.c). */
static int db_cmd(const cli *o, const msnd_config *cfg) {
    if (o->npos < 2) {
        dbtool_usage(stderr);
        return 2;
    }
    const char *sub = o->pos[1];
    int is_init = !strcmp(sub, "init"), is_migrate = !strcmp(sub, "migrate");
    if (!is_init && !is_migrate) {
        fprintf(stderr, "msnd: unknown db command '%s' (init or migrate; see msnd db --help)\n", sub);
        return 2;
    }
    if (o->npos > 2) {
        fprintf(stderr, "msnd: db %s: unexpected argument '%s' (see msnd db --help)\n", sub, o->pos[2]);
        return 2;
    }
    if (o->create) {
        fprintf(stderr, "msnd: --create is for `msnd user add`\n");
        return 2;
    }
    if (is_migrate) {
        if (!o->from || !o->to) {
            fprintf(stderr, "msnd: db migrate: needs --from DB and --to DB (see msnd db --help)\n");
            return 2;
        }
        return dbtool_migrate(o->from, o->to);
    }
    if (o->from || o->to) {
        fprintf(stderr, "msnd: option '--%s' is for `msnd db migrate`\n", o->from ? "from" : "to");
        return 2;
    }
    if (!cfg->db[0]) {
        fprintf(stderr, "msnd: db init: which database? (--db DB, or db = in the --config file)\n");
        return 2;
    }
    return dbtool_init(cfg->db);
}

static int run_server(msnd_config *cfg) {
    log_level lvl;
    if (log_level_parse(cfg->log_level, &lvl) != 0) {
        fprintf(stderr, "msnd: unknown log level '%s' (debug, info, warn or error)\n", cfg->log_level);
        return 2;
    }
    char err[512];
    if (log_open(cfg->log, cfg->log_file, lvl, err, sizeof err) != 0) {
        fprintf(stderr, "msnd: %s\n", err);
        return 1;
    }
    msnd_server *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "msnd: out of memory\n");
        log_close();
        return 1;
    }
    if (server_init(s, cfg, err, sizeof err) != 0) {
        /* Once on the terminal; in the log too when that is elsewhere. */
        fprintf(stderr, "msnd: %s\n", err);
        if (!log_is_stderr()) LOGE("cannot start", "error=\"%s\"", err);
        server_free(s);
        free(s);
        log_close();
        return 1;
    }
    LOGI("ready", "role=%s version=%s", cfg->role, MSND_VERSION);
    server_run(s);
    server_free(s);
    free(s);
    LOGI("stopped", "%s", "");
    log_close();
    return 0;
}

int main(int argc, char **argv) {
    cli o;
    if (parse_cli(argc, argv, &o) != 0) return 2;
    /* The subcommand is the first word that is not an option, wherever
     * the options are: `msnd --config F db init` as `msnd db init --config F`. */
    const char *cmd = o.npos > 0 ? o.pos[0] : NULL;
    int is_user = cmd && !strcmp(cmd, "user"), is_db = cmd && !strcmp(cmd, "db");
    if (o.help) {
        if (is_user) user_usage(stdout);
        else if (is_db) dbtool_usage(stdout);
        else usage(stdout);
        return 0;
    }
    if (o.version) {
        printf("msnd %s (libmsnp %s)\n", MSND_VERSION, msnp_version_string());
        return 0;
    }
    if (o.self_check) {
        char report[4096];
        int rc = msnp_self_check(report, sizeof report);
        fputs(report, stdout);
        return rc == 0 ? 0 : 1;
    }
    if (cmd && !is_user && !is_db) {
        fprintf(stderr, "msnd: unexpected argument '%s' (see msnd --help)\n", cmd);
        return 2;
    }
    if ((o.from || o.to) && !is_db) {
        fprintf(stderr, "msnd: option '--%s' is for `msnd db migrate`\n", o.from ? "from" : "to");
        return 2;
    }
    msnd_config cfg;
    config_defaults(&cfg);
    /* A schema change names its database: ./msnd.db is the server's
     * default, not a guess to create or upgrade. */
    if (is_db) cfg.db[0] = '\0';
    if (apply_cli(&o, &cfg) != 0) return 2;
    if (is_user) return user_cmd(&o, &cfg);
    if (is_db) return db_cmd(&o, &cfg);
    if (o.create) {
        fprintf(stderr, "msnd: --create is for `msnd user add`\n");
        return 2;
    }
    /* Settings that contradict each other are a configuration error like
     * a bad value: refused before the log file, the database or a socket
     * is opened, so nothing is left behind by a server that never ran. */
    char err[1024];
    if (config_check(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "msnd: %s\n", err);
        return 2;
    }
    return run_server(&cfg);
}
