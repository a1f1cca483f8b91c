/* config.c - INI configuration (inih) and password sources. The password
 * never comes from the command line itself: a file, an environment
 * variable, or a prompt. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <ini.h>
#include <msnc/addr.h>
#include <msnkit/ini.h>

#include "app.h"

void config_defaults(app_config *c) {
    memset(c, 0, sizeof(*c));
    snprintf(c->server, sizeof(c->server), "127.0.0.1:1863");
    snprintf(c->bind_ip, sizeof(c->bind_ip), "127.0.0.1");
    snprintf(c->download_dir, sizeof(c->download_dir), ".");
    snprintf(c->status, sizeof(c->status), "NLN");
    c->ftp_first = 6891;
    c->ftp_last = 6900;
    c->max_version = 7;
    c->min_version = 2;
    c->ping_s = 60;
    c->invite_timeout_s = 120;
    c->connect_timeout_s = 30;
    c->login_timeout_s = 30;
    c->reconnect = 1;
}

int parse_port_range(const char *s, uint16_t *first, uint16_t *last) {
    char *end;
    errno = 0;
    unsigned long a = strtoul(s, &end, 10);
    unsigned long b = a;
    if (errno || end == s) return -1;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtoul(p, &end, 10);
        if (errno || end == p) return -1;
    }
    if (*end || a > 65535 || b > 65535 || b < a) return -1;
    *first = (uint16_t)a;
    *last = (uint16_t)b;
    return 0;
}

int config_server_check(const char *s) {
    msnp_str host;
    uint16_t port = 0;
    if (msnp_split_hostport(msnp_str_c(s), &host, &port, 0) != 0 || host.n == 0 || host.n >= 256) return -1;
    /* "::1" splits as the host ":" and the port 1: a name or an IPv4
     * address has no ':', an IPv6 address comes in brackets */
    if (memchr(host.p, ':', host.n) && !(host.p > s && host.p[-1] == '[')) return -2;
    return 0;
}

int parse_number(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out) {
    /* strtoull alone takes "-5" (as a huge number), " 5", "5s" and "1e9" (as 1) */
    if (!s || !isdigit((unsigned char)s[0])) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int parse_number_opt(const char *name, const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out) {
    if (parse_number(s, min, max, out) == 0) return 0;
    fprintf(stderr, "msnc: %s wants a whole number from %llu to %llu, not '%s'\n", name, min, max, s);
    return -1;
}

int parse_text_opt(const char *name, const char *s, char *dst, size_t cap) {
    size_t n = strlen(s);
    if (n >= cap) {
        /* as in the config file: a value is taken whole or refused, never cut */
        fprintf(stderr, "msnc: %s takes at most %zu bytes; this one has %zu\n", name, cap - 1, n);
        return -1;
    }
    memcpy(dst, s, n + 1);
    return 0;
}

/* What the INI handler knows of the file: the settings, and why it
 * refused the first line it refused. */
typedef struct ini_ctx {
    app_config *c;
    char why[400];
} ini_ctx;

/* Refuses the line (0: inih's "bad line"), saying why once. */
#define REFUSE(...) \
    do { \
        if (!x->why[0]) snprintf(x->why, sizeof x->why, __VA_ARGS__); \
        return 0; \
    } while (0)

/* An INI number into dst, of that type. */
#define INI_NUMBER(dst, type, min, max) \
    do { \
        unsigned long long v_; \
        if (parse_number(value, (min), (max), &v_) != 0) \
            REFUSE("'%s' wants a whole number from %llu to %llu, not '%s'", name, (unsigned long long)(min), \
                   (unsigned long long)(max), value); \
        (dst) = (type)v_; \
    } while (0)

/* A text setting whole into dst, or refused (never cut). */
#define INI_TEXT(dst) \
    do { \
        if (strlen(value) >= sizeof(dst)) REFUSE("'%s' is longer than %zu bytes", name, sizeof(dst) - 1); \
        memcpy((dst), value, strlen(value) + 1); \
    } while (0)

/* yes/no, 1/0, true/false, on/off into *dst, as msnd and msngate take them. */
#define INI_BOOL(dst) \
    do { \
        if (!strcasecmp(value, "yes") || !strcmp(value, "1") || !strcasecmp(value, "true") || \
            !strcasecmp(value, "on")) \
            *(dst) = 1; \
        else if (!strcasecmp(value, "no") || !strcmp(value, "0") || !strcasecmp(value, "false") || \
                 !strcasecmp(value, "off")) \
            *(dst) = 0; \
        else REFUSE("'%s' wants yes or no, not '%s'", name, value); \
    } while (0)

static int ini_cb(void *user, const char *section, const char *name, const char *value) {
    ini_ctx *x = user;
    app_config *c = x->c;
    (void)section; /* keys are unique across sections */
    int yes;
    /* The values checked at start are checked here too, so that a bad
     * one is named by its line as a configuration error (78). */
    if (!strcasecmp(name, "server") || !strcasecmp(name, "address")) {
        INI_TEXT(c->server);
        int bad = config_server_check(value);
        if (bad == -2)
            REFUSE("'%s' wants an IPv6 address in brackets, [ADDRESS] or [ADDRESS]:PORT, not '%s'", name, value);
        if (bad) REFUSE("'%s' wants HOST or HOST:PORT (port 1 to 65535), not '%s'", name, value);
    } else if (!strcasecmp(name, "account") || !strcasecmp(name, "email")) {
        INI_TEXT(c->email);
        if (!msnp_email_valid(msnp_str_c(value))) REFUSE("'%s' wants an e-mail address, not '%s'", name, value);
    } else if (!strcasecmp(name, "status")) {
        msnp_status st = msnp_status_parse(msnp_str_c(value));
        if (st == MSNP_STATUS_INVALID || st == MSNP_STATUS_FLN)
            REFUSE("'status' wants NLN, BSY, IDL, BRB, AWY, PHN, LUN or HDN, not '%s'", value);
        INI_TEXT(c->status);
    } else if (!strcasecmp(name, "bind_ip")) {
        INI_TEXT(c->bind_ip);
        if (!msnc_ipv4_unicast(value))
            REFUSE("'bind_ip' wants a unicast IPv4 address (it is advertised to peers), not '%s'", value);
    } else if (!strcasecmp(name, "password_file")) INI_TEXT(c->password_file);
    else if (!strcasecmp(name, "password_env")) INI_TEXT(c->password_env);
    else if (!strcasecmp(name, "download_dir")) INI_TEXT(c->download_dir);
    else if (!strcasecmp(name, "cache_dir")) INI_TEXT(c->cache_dir);
    else if (!strcasecmp(name, "ftp_ports")) {
        if (parse_port_range(value, &c->ftp_first, &c->ftp_last) != 0)
            REFUSE("'ftp_ports' wants a port or a range A-B (0 to 65535), not '%s'", value);
    } else if (!strcasecmp(name, "ftp_max_rate")) INI_NUMBER(c->max_rate, uint64_t, 0, UINT64_MAX);
    else if (!strcasecmp(name, "max_version")) INI_NUMBER(c->max_version, int, 2, 7);
    else if (!strcasecmp(name, "min_version")) INI_NUMBER(c->min_version, int, 2, 7);
    else if (!strcasecmp(name, "ping_interval")) INI_NUMBER(c->ping_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "invite_timeout")) INI_NUMBER(c->invite_timeout_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "connect_timeout")) INI_NUMBER(c->connect_timeout_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "login_timeout")) INI_NUMBER(c->login_timeout_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "incoming")) {
        INI_BOOL(&yes);
        c->no_incoming = !yes;
    } else if (!strcasecmp(name, "reconnect")) {
        INI_BOOL(&yes);
        c->reconnect = yes;
    } else if (!strcasecmp(name, "password")) {
        REFUSE("a password is not kept in the config file: use password_file or password_env");
    } else {
        REFUSE("unknown key '%s'", name);
    }
    return 1;
}

int config_load_ini(app_config *c, const char *path, char *err, size_t errcap) {
    int bad_line = 0;
    ini_ctx x = {c, ""};
    int rc = msnkit_ini_parse(path, ini_cb, &x, &bad_line);
    if (msnkit_ini_line_error(rc, path, bad_line, err, errcap)) return -1;
    if (rc < 0) { /* -1: fopen's errno, -4: the read's (a directory), -2: out of memory */
        snprintf(err, errcap, "cannot read config %s: %s", path, strerror(rc == -2 ? ENOMEM : errno));
        return -1;
    }
    if (rc > 0) {
        snprintf(err, errcap, "%s:%d: %s", path, rc, x.why[0] ? x.why : "not a 'key = value' line or a [section]");
        return -1;
    }
    return 0;
}

static void chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
}

int config_resolve_password(app_config *c, int interactive, char *err, size_t errcap) {
    if (c->password_file[0]) {
        FILE *f = fopen(c->password_file, "r");
        if (!f) {
            snprintf(err, errcap, "cannot read password file %s: %s", c->password_file, strerror(errno));
            return -1;
        }
        if (!fgets(c->password, sizeof(c->password), f)) c->password[0] = '\0';
        /* never cut (a shorter password would just fail), never empty (a
         * directory reads as nothing: its error is said) */
        int ch = strchr(c->password, '\n') ? EOF : getc(f), e = ferror(f) ? errno : 0;
        fclose(f);
        if (e) {
            snprintf(err, errcap, "cannot read password file %s: %s", c->password_file, strerror(e));
            return -1;
        }
        if (ch != EOF && ch != '\n' && ch != '\r') {
            memset(c->password, 0, sizeof(c->password));
            snprintf(err, errcap, "the password in %s is longer than %zu bytes", c->password_file,
                     sizeof(c->password) - 1);
            return -1;
        }
        chomp(c->password);
        if (!c->password[0]) {
            snprintf(err, errcap, "password file %s is empty (its first line is the password)", c->password_file);
            return -1;
        }
        return 0;
    }
    const char *env = getenv(c->password_env[0] ? c->password_env : "MSNC_PASSWORD");
    if (env) {
        if (!env[0]) { /* set but empty: no password, as an empty file */
            snprintf(err, errcap, "%s is empty", c->password_env[0] ? c->password_env : "MSNC_PASSWORD");
            return -1;
        }
        if (strlen(env) >= sizeof(c->password)) { /* never cut: a shorter password would just fail */
            snprintf(err, errcap, "the password in %s is longer than %zu bytes",
                     c->password_env[0] ? c->password_env : "MSNC_PASSWORD", sizeof(c->password) - 1);
            return -1;
        }
        memcpy(c->password, env, strlen(env) + 1);
        return 0;
    }
    if (!interactive || !isatty(STDIN_FILENO)) {
        /* say why no prompt came, and name the variable that was read
         * (--password-env's, not always MSNC_PASSWORD) */
        snprintf(err, errcap, "no password: %s, and %s is not set; use --password-file or set %s",
                 interactive ? "standard input is not a terminal to ask on" : "--batch does not ask for one",
                 c->password_env[0] ? c->password_env : "MSNC_PASSWORD",
                 c->password_env[0] ? c->password_env : "MSNC_PASSWORD");
        return -1;
    }
    /* Echo goes off before the prompt appears: whatever is typed once the
     * prompt shows is never echoed. TCSANOW, not TCSAFLUSH: flushing would
     * throw away a password typed (or pasted) right after the prompt, and
     * msnc would then wait for one that never comes. */
    struct termios old, quiet;
    int tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    fprintf(stderr, "Password for %s: ", c->email);
    fflush(stderr);
    char *ok = fgets(c->password, sizeof(c->password), stdin);
    if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fprintf(stderr, "\n");
    if (!ok) {
        snprintf(err, errcap, "no password entered");
        return -1;
    }
    chomp(c->password);
    return 0;
}
