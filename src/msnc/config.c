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

/* An INI number into dst, of that type; 0 (inih's "bad line") when it is
 * not one in range. */
#define INI_NUMBER(dst, type, min, max) \
    do { \
        unsigned long long v_; \
        if (parse_number(value, (min), (max), &v_) != 0) return 0; \
        (dst) = (type)v_; \
    } while (0)

static void copy(char *dst, size_t cap, const char *v) { snprintf(dst, cap, "%s", v); }

static int ini_cb(void *user, const char *section, const char *name, const char *value) {
    app_config *c = user;
    (void)section; /* keys are unique across sections */
    if (!strcasecmp(name, "server") || !strcasecmp(name, "address")) copy(c->server, sizeof(c->server), value);
    else if (!strcasecmp(name, "account") || !strcasecmp(name, "email")) copy(c->email, sizeof(c->email), value);
    else if (!strcasecmp(name, "password_file")) copy(c->password_file, sizeof(c->password_file), value);
    else if (!strcasecmp(name, "password_env")) copy(c->password_env, sizeof(c->password_env), value);
    else if (!strcasecmp(name, "bind_ip")) copy(c->bind_ip, sizeof(c->bind_ip), value);
    else if (!strcasecmp(name, "download_dir")) copy(c->download_dir, sizeof(c->download_dir), value);
    else if (!strcasecmp(name, "cache_dir")) copy(c->cache_dir, sizeof(c->cache_dir), value);
    else if (!strcasecmp(name, "status")) copy(c->status, sizeof(c->status), value);
    else if (!strcasecmp(name, "ftp_ports")) {
        if (parse_port_range(value, &c->ftp_first, &c->ftp_last) != 0) return 0;
    } else if (!strcasecmp(name, "ftp_max_rate")) INI_NUMBER(c->max_rate, uint64_t, 0, UINT64_MAX);
    else if (!strcasecmp(name, "max_version")) INI_NUMBER(c->max_version, int, 2, 7);
    else if (!strcasecmp(name, "min_version")) INI_NUMBER(c->min_version, int, 2, 7);
    else if (!strcasecmp(name, "ping_interval")) INI_NUMBER(c->ping_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "invite_timeout")) INI_NUMBER(c->invite_timeout_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "connect_timeout")) INI_NUMBER(c->connect_timeout_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "login_timeout")) INI_NUMBER(c->login_timeout_s, unsigned, 0, MSNC_MAX_SECONDS);
    else if (!strcasecmp(name, "incoming"))
        c->no_incoming = !strcasecmp(value, "no") || !strcmp(value, "0") || !strcasecmp(value, "false");
    else if (!strcasecmp(name, "reconnect"))
        c->reconnect = !strcasecmp(value, "yes") || !strcmp(value, "1") || !strcasecmp(value, "true");
    else if (!strcasecmp(name, "password")) return 0; /* refuse clear-text passwords in the config */
    else return 0;
    return 1;
}

int config_load_ini(app_config *c, const char *path, char *err, size_t errcap) {
    int long_line = 0;
    int rc = msnkit_ini_parse(path, ini_cb, c, &long_line);
    if (rc == -3) {
        snprintf(err, errcap, "%s:%d: line longer than %d bytes", path, long_line, MSNKIT_INI_MAX_LINE);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errcap, "cannot read config %s", path);
        return -1;
    }
    if (rc > 0) {
        snprintf(err, errcap, "%s:%d: unknown key or bad value (passwords go in password_file)", path, rc);
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
        fclose(f);
        chomp(c->password);
        return 0;
    }
    const char *env = getenv(c->password_env[0] ? c->password_env : "MSNC_PASSWORD");
    if (env) {
        copy(c->password, sizeof(c->password), env);
        return 0;
    }
    if (!interactive || !isatty(STDIN_FILENO)) {
        snprintf(err, errcap, "no password: use --password-file, MSNC_PASSWORD or a terminal prompt");
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
