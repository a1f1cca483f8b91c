/* Settings table; see config.h. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <msnkit/ini.h>
#include <msnkit/special.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <msnp/msnp.h>

#include "log.h"
#include "server.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_STR, OPT_LONG, OPT_BOOL } opt_type;

typedef struct opt_def {
    const char *name;
    opt_type type;
    size_t offset;
    size_t size; /* strings */
    long min, max;
    const char *help;
    /* strings: the form a value must have (0 or -1), checked as it is
     * set, so that a refused one is named with its file and line */
    int (*check)(const char *value);
    const char *want;
} opt_def;

int config_roles_parse(const char *spec, int *ds, int *ns, int *sb) {
    *ds = *ns = *sb = 0;
    if (!strcmp(spec, "all")) {
        *ds = *ns = *sb = 1;
        return 0;
    }
    char tmp[32];
    if (strlen(spec) >= sizeof tmp) return -1;
    snprintf(tmp, sizeof tmp, "%s", spec);
    char *save = NULL;
    /* blanks around the commas, as the address lists take them */
    for (char *t = strtok_r(tmp, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (!strcmp(t, "ds")) *ds = 1;
        else if (!strcmp(t, "ns")) *ns = 1;
        else if (!strcmp(t, "sb")) *sb = 1;
        else return -1;
    }
    return *ds || *ns || *sb ? 0 : -1;
}

static int check_roles(const char *v) {
    int ds, ns, sb;
    return config_roles_parse(v, &ds, &ns, &sb);
}

static int check_log_level(const char *v) {
    log_level l;
    return log_level_parse(v, &l);
}

/* An address to bind or dial: a numeric IP and a port. */
static int check_numeric(const char *v) {
    struct sockaddr_storage ss;
    int n;
    return server_parse_addr(v, &ss, &n);
}

/* What clients are handed: host:port (a name will do), an IPv6 address in
 * brackets: clients split at the last ':', so "::1" would be the host ":"
 * on port 1. */
static int check_hostport(const char *v) {
    msnp_str h;
    uint16_t p;
    if (msnp_split_hostport(msnp_str_c(v), &h, &p, 1) != 0 || !msnp_param_is_safe(msnp_str_c(v))) return -1;
    return memchr(h.p, ':', h.n) && !(h.p > v && h.p[-1] == '[') ? -1 : 0;
}

/* Up to 16 of either, separated by commas or spaces. */
static int check_list(const char *v, int (*each)(const char *)) {
    char tmp[4 * CFG_ADDR];
    if (strlen(v) >= sizeof tmp) return -1;
    snprintf(tmp, sizeof tmp, "%s", v);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (++n > 16 || each(tok) != 0) return -1;
    return 0;
}

/* The link secret travels as one word of a link line (HELLO ... secret):
 * no space, tab or other control character. */
static int check_secret(const char *v) {
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == 0x7f) return -1;
    return 0;
}

/* The sinks log_open knows. */
static int check_log_sink(const char *v) {
    static const char *const sinks[] = {"auto", "stderr", "journal", "syslog"};
    for (size_t i = 0; i < sizeof sinks / sizeof sinks[0]; i++)
        if (!strcmp(v, sinks[i])) return 0;
    return -1;
}

/* A file name (bare or after "sqlite:") or a connection string: the form
 * of a PostgreSQL one is libpq's to judge, but none of them is empty. */
static int check_db(const char *v) { return v[0] && strcmp(v, "sqlite:") != 0 ? 0 : -1; }

static int check_hostport_list(const char *v) { return check_list(v, check_hostport); }
static int check_numeric_list(const char *v) { return check_list(v, check_numeric); }

/* Every value is checked, the empty one too: for the optional settings it
 * means "not set" (the derived ports, no --sb-address, no peers: an empty
 * list has no bad entry), while a setting that always has a value (the
 * roles, the address to listen on) has no such meaning, and an empty one
 * would only fail later, after the log file and the database had been
 * created. */
static int check_numeric_opt(const char *v) { return v[0] ? check_numeric(v) : 0; }
static int check_hostport_opt(const char *v) { return v[0] ? check_hostport(v) : 0; }

#define S(f, h) \
    { #f, OPT_STR, offsetof(msnd_config, f), sizeof(((msnd_config *)0)->f), 0, 0, h, NULL, NULL }
#define SC(f, check, want, h) \
    { #f, OPT_STR, offsetof(msnd_config, f), sizeof(((msnd_config *)0)->f), 0, 0, h, check, want }
#define L(f, lo, hi, h) \
    { #f, OPT_LONG, offsetof(msnd_config, f), 0, lo, hi, h, NULL, NULL }
#define B(f, h) \
    { #f, OPT_BOOL, offsetof(msnd_config, f), 0, 0, 1, h, NULL, NULL }
#define IP_PORT "a numeric IP and a port"
#define IP_PORTS "up to 16 numeric IPs with ports, comma-separated"

static const opt_def opts[] = {
    SC(role, check_roles, "all, or a comma list of ds, ns, sb",
       "all (= ds,ns,sb) or a comma list of ds, ns, sb; e.g. ns,sb or sb alone"),
    SC(listen, check_numeric, IP_PORT,
       "address of the first role listed (DS, else NS, else SB), default 127.0.0.1:1863"),
    SC(ns_listen, check_numeric_opt, IP_PORT, "notification address, default --listen's host and port + 1 (0 stays 0)"),
    SC(sb_listen, check_numeric_opt, IP_PORT,
       "switchboard address, default --listen's host and port + 2 (+ 1 without DS; 0 stays 0)"),
    SC(ns_nodes, check_hostport_list, "up to 16 host:port ([IPv6]:port), comma-separated",
       "host:port[,host:port...] handed out by the DS (default: own NS)"),
    SC(sb_address, check_hostport_opt, "host:port ([IPv6]:port)",
       "host:port advertised in XFR SB / RNG (default: SB listener or linked SB processes)"),
    SC(link_listen, check_numeric_opt, IP_PORT, "NS: ip:port where --role sb processes link in (private network)"),
    SC(ns_links, check_numeric_list, IP_PORTS,
       "--role sb: the NS nodes' --link-listen ip:port list, in --ns-nodes order"),
    SC(ns_peers, check_numeric_list, IP_PORTS,
       "NS of several: the other NS nodes' --link-listen ip:port list (shared presence)"),
    SC(link_secret, check_secret, "one word (no spaces or control characters)",
       "shared word both ends of a switchboard link must present"),
    SC(db, check_db, "an SQLite file, sqlite:FILE or a postgresql:// URI",
       "the store: an SQLite file (or sqlite:FILE) or postgresql://user@host:port/db (default ./msnd.db)"),
    S(port_file, "write ds=/ns=/sb= addresses here after binding"),
    SC(log, check_log_sink, "auto, stderr, journal or syslog",
       "auto (--log-file if given, else the journal under systemd, else stderr) | stderr | journal | syslog"),
    S(log_file, "log file (default stderr; SIGHUP reopens it)"),
    SC(log_level, check_log_level, "debug, info, warn or error", "debug | info | warn | error"),
    B(log_invitations, "log invitation metadata relayed by switchboards"),
    L(max_line, 64, 65536, "longest command line in bytes"),
    L(max_payload, 1024, 16777216, "largest payload framed; bigger closes the connection"),
    L(max_message, 0, 16777216, "largest switchboard MSG payload (bigger is refused with 201)"),
    L(max_commands_per_second, 0, 100000000, "per connection, 0 = unlimited"),
    L(command_burst, 1, 100000000, "commands allowed in a burst above the rate"),
    L(max_connections, 0, 10000000, "all connections, 0 = unlimited"),
    L(max_connections_per_address, 0, 10000000, "per client IP address, 0 = unlimited"),
    L(login_timeout, 0, 86400, "seconds to log in (or join a switchboard), 0 = never"),
    L(ns_idle_timeout, 0, 86400 * 7, "seconds of silence before a logged-in client is dropped, 0 = never"),
    L(sb_idle_timeout, 0, 86400 * 7, "seconds of silence before a switchboard client is dropped, 0 = never"),
    /* Linux takes at most 32767 s (MAX_TCP_KEEPIDLE): more was refused by
     * setsockopt and the kernel's 2 hours stayed, in silence */
    L(tcp_keepalive, 0, 32767,
      "seconds of silence before TCP keepalive probes on every connection (at most 32767), 0 = off"),
    L(max_forward_list, 1, 100000, "FL size"),
    L(max_allow_block_list, 1, 100000, "AL and BL size each"),
    L(max_groups, 1, 1000, "MSNP7 groups per account"),
    L(max_participants, 2, 10000, "participants per switchboard"),
    L(cookie_lifetime, 1, 86400, "seconds an XFR SB / RNG cookie stays valid"),
    L(max_xfr_cookies_per_user, 0, 1000000, "unused XFR SB cookies one user may hold, 0 = unlimited"),
    L(max_switchboards_per_user, 0, 1000000, "switchboard sessions one user may be in, 0 = unlimited"),
    L(auth_failures_per_account, 0, 1000000, "failed logins for an account from one address before delays, 0 = off"),
    L(auth_failures_per_address, 0, 1000000, "failed logins from one address before delays, 0 = off"),
    L(auth_failure_window, 1, 86400, "seconds after the last failure (or delay) they are forgotten"),
    L(auth_delay, 1, 86400, "seconds the first login delay lasts (each failure doubles it)"),
    L(auth_max_delay, 1, 86400, "longest login delay in seconds"),
    L(challenges, 0, 1, "send CHL challenges to MSNP6/7 clients (1/0)"),
    L(challenge_timeout, 1, 86400, "seconds to answer a CHL"),
    L(login_cache_mb, 0, 1048576, "MiB of login snapshots kept: a repeat login reads no rows (0 = none)"),
    L(max_output, 65536, 1073741824, "bytes queued to one client before it is dropped, besides the lists it asked for"),
    L(max_output_before_login, 1024, 1073741824, "the same before the client has logged in"),
    L(max_output_total, 0, 68719476736L, "bytes queued to all clients together, 0 = unlimited"),
    L(shutdown_grace, 0, 60, "seconds to deliver OUT SSD on SIGTERM"),
};
#define NOPTS (sizeof opts / sizeof opts[0])

void config_defaults(msnd_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->role, sizeof c->role, "all");
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:1863");
    snprintf(c->db, sizeof c->db, "msnd.db");
    snprintf(c->log_level, sizeof c->log_level, "info");
    snprintf(c->log, sizeof c->log, "auto");
    c->max_line = 4096;
    c->max_payload = 65536;
    c->max_message = 1664;
    c->max_commands_per_second = 200;
    c->command_burst = 400;
    c->max_connections = 10000;
    c->max_connections_per_address = 256;
    c->login_timeout = 60;
    c->ns_idle_timeout = 300; /* clients send PNG every 50-60 s: five missed pings */
    c->sb_idle_timeout = 600;
    c->tcp_keepalive = 120;
    c->max_forward_list = 150;
    c->max_allow_block_list = 300;
    c->max_groups = 30;
    c->max_participants = 20;
    c->cookie_lifetime = 120;
    c->max_xfr_cookies_per_user = 20;
    c->max_switchboards_per_user = 50;
    c->auth_failures_per_account = 5;
    c->auth_failures_per_address = 20;
    c->auth_failure_window = 60;
    c->auth_delay = 1;
    c->auth_max_delay = 300;
    c->challenges = 1;
    c->challenge_timeout = 60;
    c->login_cache_mb = 64; /* STORE_LOGIN_CACHE_DEFAULT */
    c->max_output = 4 * 1024 * 1024;
    c->max_output_before_login = 16 * 1024;
    c->max_output_total = 256L * 1024 * 1024;
    c->shutdown_grace = 2;
}

static const opt_def *find_opt(const char *name) {
    char norm[64];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof norm; i++) norm[i] = name[i] == '-' ? '_' : name[i];
    norm[i] = '\0';
    for (size_t k = 0; k < NOPTS; k++)
        if (strcmp(opts[k].name, norm) == 0) return &opts[k];
    return NULL;
}

int config_kind(const char *name) {
    const opt_def *o = find_opt(name);
    if (!o) return -1;
    return o->type == OPT_BOOL ? 1 : 0;
}

int config_set(msnd_config *c, const char *name, const char *value, char *err, size_t errcap) {
    const opt_def *o = find_opt(name);
    if (!o) {
        /* --config is main's; in a file it would include nothing */
        if (strcmp(name, "config") == 0) snprintf(err, errcap, "'config' is an option, not a setting of the file");
        else snprintf(err, errcap, "unknown setting '%s'", name);
        return -1;
    }
    char *base = (char *)c;
    if (o->type == OPT_STR) {
        if (strlen(value) >= o->size) {
            snprintf(err, errcap, "'%s' expects at most %zu bytes, not %zu", name, o->size - 1, strlen(value));
            return -1;
        }
        if (o->check && o->check(value) != 0) {
            if (o->check == check_secret) /* a secret is not repeated in the message */
                snprintf(err, errcap, "'%s' expects %s", name, o->want);
            else snprintf(err, errcap, "'%s' expects %s, not '%s'", name, o->want, value);
            return -1;
        }
        memcpy(base + o->offset, value, strlen(value) + 1);
        return 0;
    }
    if (o->type == OPT_BOOL) {
        int v;
        if (!strcmp(value, "1") || !strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on")) v = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "off")) v = 0;
        else {
            snprintf(err, errcap, "'%s' expects yes or no, not '%s'", name, value);
            return -1;
        }
        memcpy(base + o->offset, &v, sizeof v);
        return 0;
    }
    errno = 0;
    char *end;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < o->min || v > o->max) {
        snprintf(err, errcap, "'%s' expects a number from %ld to %ld, not '%s'", name, o->min, o->max, value);
        return -1;
    }
    memcpy(base + o->offset, &v, sizeof v);
    return 0;
}

typedef struct ini_ctx {
    msnd_config *c;
    char *err;
    size_t errcap;
    int failed;
} ini_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value) {
    (void)section;
    ini_ctx *x = user;
    if (x->failed) return 0;
    if (config_set(x->c, name, value, x->err, x->errcap) != 0) {
        x->failed = 1;
        return 0;
    }
    return 1;
}

int config_load_file(msnd_config *c, const char *path, char *err, size_t errcap) {
    ini_ctx x = {c, err, errcap, 0};
    errno = 0;
    int bad_line = 0;
    int rc = msnkit_ini_parse(path, on_ini, &x, &bad_line);
    if (msnkit_ini_line_error(rc, path, bad_line, err, errcap)) return -1;
    if (rc == -1) {
        snprintf(err, errcap, "cannot open config file %s: %s", path, strerror(errno ? errno : ENOENT));
        return -1;
    }
    if (rc == -4) {
        snprintf(err, errcap, "cannot read config file %s: %s", path, strerror(errno ? errno : EIO));
        return -1;
    }
    if (rc == -2) {
        snprintf(err, errcap, "cannot read config file %s: out of memory", path);
        return -1;
    }
    if (x.failed) { /* rc is the line of the first setting refused */
        char keep[2048];
        snprintf(keep, sizeof keep, "%s", err);
        snprintf(err, errcap, "%s:%d: %s", path, rc, keep);
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errcap, "%s:%d: not a 'key = value' line or a [section]", path, rc);
        return -1;
    }
    return 0;
}

/* The port of an address check_numeric accepts, and whether its IP is
 * the wildcard (0.0.0.0 or ::). */
static int addr_port(const char *v, unsigned *port, int *wildcard) {
    struct sockaddr_storage ss;
    int n;
    if (server_parse_addr(v, &ss, &n) != 0) return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        *port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        *port = ntohs(a->sin6_port);
    }
    *wildcard = server_addr_is_any(&ss);
    return 0;
}

void config_port_offsets(const msnd_config *c, int ds, int ns, unsigned *ns_offset, unsigned *sb_offset) {
    *ns_offset = (ns && !ds) || c->ns_listen[0] ? 0 : 1;
    *sb_offset = c->sb_listen[0] || (!ds && !ns) ? 0 : ds && ns ? 2 : 1;
}

/* Whether two paths name one file: by the same spelling, or as the same
 * file (another spelling, a link). */
static int same_file(const char *a, const char *b) {
    if (!a[0] || !b[0]) return 0;
    if (strcmp(a, b) == 0) return 1;
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Whether path names the SQLite database db (a file, or sqlite:FILE) or
 * its -wal, -shm or -journal. */
static int is_database_file(const char *path, const char *db) {
    db = store_sqlite_file(db);
    if (!path[0] || !db) return 0;
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char name[CFG_PATH + 16];
        snprintf(name, sizeof name, "%s%s", db, tails[i]);
        if (same_file(path, name)) return 1;
    }
    return 0;
}

/* The settings taken together, as server_init will take them: the same
 * rules in the same order, so that each is refused here as a
 * configuration error before the log file, the database or a socket
 * exists, rather than found after the database was created. */
int config_check(const msnd_config *c, char *err, size_t errcap) {
    int ds, ns, sb;
    if (config_roles_parse(c->role, &ds, &ns, &sb) != 0) {
        snprintf(err, errcap, "'role' expects all, or a comma list of ds, ns, sb, not '%s'", c->role);
        return -1;
    }
    if (c->log_file[0] && strcmp(c->log, "auto") != 0) {
        snprintf(err, errcap, "--log-file goes with --log auto, not --log %s", c->log);
        return -1;
    }
    /* The port file is renamed into place and the log file appended to:
     * on the database (or its -wal or -shm) either destroys it, a port
     * file at once (the accounts go with the file it replaced). */
    const char *const files[][2] = {{"--port-file", c->port_file}, {"--log-file", c->log_file}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (is_database_file(files[i][1], c->db)) {
            snprintf(err, errcap, "%s %s is the database --db %s (or its -wal or -shm): give it another file",
                     files[i][0], files[i][1], c->db);
            return -1;
        }
    }
    /* the name is also unlinked at a clean stop (msnkit/special.h) */
    const char *special = msnkit_special_file(c->port_file);
    if (special) {
        snprintf(err, errcap,
                 "--port-file %s is not a regular file (%s): msnd writes a new port file over the name and "
                 "removes it at exit; name a file, or leave --port-file out",
                 c->port_file, special);
        return -1;
    }
    if (same_file(c->port_file, c->log_file)) {
        snprintf(err, errcap,
                 "--port-file %s is the --log-file %s: the port file would replace the log; give it "
                 "another file",
                 c->port_file, c->log_file);
        return -1;
    }
    if (sb && !ns && !c->ns_links[0]) {
        snprintf(err, errcap,
                 "a switchboard without the notification role needs --ns-links "
                 "(the notification servers' --link-listen addresses)");
        return -1;
    }
    if (ns && !sb && !c->sb_address[0] && !c->link_listen[0]) {
        snprintf(err, errcap,
                 "a notification server without the switchboard role needs --link-listen "
                 "(for --role sb processes) or --sb-address; or use --role ns,sb");
        return -1;
    }
    unsigned lport;
    int lwild;
    if (addr_port(c->listen, &lport, &lwild) != 0) {
        snprintf(err, errcap, "'listen' expects " IP_PORT ", not '%s'", c->listen);
        return -1;
    }
    /* The roles without an address of their own take --listen's port plus
     * one or two; a DS alone hands out --listen's port plus one as its
     * notification server unless --ns-nodes names them. */
    unsigned ns_offset, sb_offset;
    config_port_offsets(c, ds, ns, &ns_offset, &sb_offset);
    unsigned offset = ns_offset > sb_offset ? ns_offset : sb_offset;
    if (ds && !ns && !c->ns_nodes[0] && offset < 1) offset = 1;
    if (lport != 0 && lport + offset > 65535u) {
        snprintf(err, errcap,
                 "cannot derive the other roles' ports from --listen '%s' (give --ns-listen and "
                 "--sb-listen)",
                 c->listen);
        return -1;
    }
    /* Where the switchboard listens: --sb-listen, else --listen's host. */
    char sb_at[CFG_ADDR];
    int sb_wild = lwild;
    unsigned sb_port;
    if (c->sb_listen[0]) {
        snprintf(sb_at, sizeof sb_at, "%s", c->sb_listen);
        addr_port(c->sb_listen, &sb_port, &sb_wild);
    } else {
        int host_len = (int)(strrchr(c->listen, ':') - c->listen);
        snprintf(sb_at, sizeof sb_at, "%.*s:%u", host_len, c->listen, lport ? lport + sb_offset : 0u);
    }
    if (c->ns_peers[0]) {
        if (!ns) {
            snprintf(err, errcap, "--ns-peers is for notification servers (--role with ns)");
            return -1;
        }
        if (sb && !c->sb_address[0] && sb_wild) {
            snprintf(err, errcap,
                     "with --ns-peers, a switchboard bound to a wildcard address (%s) needs --sb-address "
                     "host:port: the other nodes ring callees with it",
                     sb_at);
            return -1;
        }
        if (!c->link_listen[0]) {
            snprintf(err, errcap, "--ns-peers needs --link-listen (the peers dial it to tell their users' presence)");
            return -1;
        }
    }
    if (sb && !ns && !c->sb_address[0] && sb_wild) {
        snprintf(err, errcap, "a switchboard bound to a wildcard address (%s) needs --sb-address host:port", sb_at);
        return -1;
    }
    return 0;
}

/* "--flag-name VALUE" for the help text. */
static void flag_text(const opt_def *o, char *out, size_t cap) {
    char name[64];
    size_t i = 0;
    for (; o->name[i] && i + 1 < sizeof name; i++) name[i] = o->name[i] == '_' ? '-' : o->name[i];
    name[i] = '\0';
    snprintf(out, cap, "--%s%s", name, o->type == OPT_BOOL ? "" : o->type == OPT_LONG ? " N" : " VALUE");
}

void config_usage(void *file) {
    FILE *f = file;
    /* One column for the flags, as wide as the longest of them. */
    char flag[96];
    int width = (int)strlen("--config FILE");
    for (size_t k = 0; k < NOPTS; k++) {
        flag_text(&opts[k], flag, sizeof flag);
        if ((int)strlen(flag) > width) width = (int)strlen(flag);
    }
    fprintf(f, "  %-*s  %s\n", width, "--config FILE", "INI file with the settings below (flags win)");
    for (size_t k = 0; k < NOPTS; k++) {
        flag_text(&opts[k], flag, sizeof flag);
        fprintf(f, "  %-*s  %s\n", width, flag, opts[k].help);
    }
}
