/* ruleset.c - table, sets, connmark chain and queue hook. */
#define _GNU_SOURCE
#include "ruleset.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nftables/libnftables.h>

extern char **environ;

static const char *const class_names[GATE_CLASSES] = {"file_transfer", "voice_video",       "whiteboard",
                                                      "app_sharing",   "remote_assistance", "switchboard"};

const char *gate_class_name(gate_class c) { return (unsigned)c < GATE_CLASSES ? class_names[c] : "none"; }

int gate_class_of_app(const char *app) {
    if (!app) return -1;
    if (strcmp(app, "file_transfer") == 0) return GATE_FILE_TRANSFER;
    if (strcmp(app, "voice") == 0 || strcmp(app, "video") == 0) return GATE_VOICE_VIDEO;
    if (strcmp(app, "whiteboard") == 0) return GATE_WHITEBOARD;
    if (strcmp(app, "app_sharing") == 0) return GATE_APP_SHARING;
    if (strcmp(app, "remote_assistance") == 0) return GATE_REMOTE_ASSISTANCE;
    if (strcmp(app, "switchboard") == 0) return GATE_SWITCHBOARD;
    return -1;
}

void gate_set_name(gate_class c, int family, char *out, size_t cap) {
    snprintf(out, cap, "%s_v%d", gate_class_name(c), family == 6 ? 6 : 4);
}

/* A growing command text. */
typedef struct cmdbuf {
    char *p;
    size_t n, cap;
    int oom;
} cmdbuf;

static void add(cmdbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(cmdbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 4096) + (size_t)w;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* Applies nft commands as one transaction. */
static int nft_apply(const char *cmds, char *err, size_t errcap) {
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft) {
        snprintf(err, errcap, "libnftables: cannot create a context");
        return -1;
    }
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    int rc = nft_run_cmd_from_buffer(nft, cmds);
    if (rc != 0) {
        const char *e = nft_ctx_get_error_buffer(nft);
        size_t el = e ? strlen(e) : 0;
        while (el && (e[el - 1] == '\n' || e[el - 1] == ' ')) el--;
        snprintf(err, errcap, "%.*s", (int)(el > 900 ? 900 : el), e ? e : "nft failed");
        if (geteuid() != 0 || (e && strstr(e, "Operation not permitted")))
            snprintf(err, errcap, "nftables refused: operation not permitted (msngate needs CAP_NET_ADMIN)");
    }
    nft_ctx_free(nft);
    return rc == 0 ? 0 : -1;
}

int ruleset_table_name_ok(const char *table) {
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft) return 1; /* cannot tell: the setup says what is wrong */
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    nft_ctx_set_dry_run(nft, true);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "add table inet %s\n", table);
    int rc = nft_run_cmd_from_buffer(nft, cmd);
    const char *e = nft_ctx_get_error_buffer(nft);
    int syntax = rc != 0 && e && strstr(e, "syntax error") != NULL;
    nft_ctx_free(nft);
    return !syntax;
}

int ruleset_setup_sets(const ruleset_opts *o, char *err, size_t errcap) {
    cmdbuf b = {0};
    add(&b, "add table inet %s\n", o->table);
    for (int c = 0; c < GATE_CLASSES; c++)
        for (int f = 4; f <= 6; f += 2) {
            char name[64];
            gate_set_name((gate_class)c, f, name, sizeof name);
            add(&b, "add set inet %s %s { type %s . inet_proto . inet_service; flags timeout; }\n", o->table, name,
                f == 6 ? "ipv6_addr" : "ipv4_addr");
            add(&b, "flush set inet %s %s\n", o->table, name);
        }
    int rc = b.oom ? -1 : nft_apply(b.p, err, errcap);
    if (b.oom) snprintf(err, errcap, "out of memory");
    else if (rc != 0 && strstr(err, "File exists"))
        snprintf(err + strlen(err), errcap - strlen(err),
                 " (a set of table inet %s has another definition; delete it, msngate creates its own)", o->table);
    free(b.p);
    return rc;
}

/* Lists what cmd names into a buffer of the caller's (free it): 0, 1 when
 * it does not exist, -1 when nftables cannot be asked. */
static int nft_list(const char *cmd, unsigned flags, char **out) {
    *out = NULL;
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft) return -1;
    nft_ctx_output_set_flags(nft, flags);
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    int rc = 0;
    if (nft_run_cmd_from_buffer(nft, cmd) != 0) {
        const char *e = nft_ctx_get_error_buffer(nft);
        rc = e && strstr(e, "No such file or directory") ? 1 : -1;
    } else {
        const char *o = nft_ctx_get_output_buffer(nft);
        *out = strdup(o ? o : "");
        if (!*out) rc = -1;
    }
    nft_ctx_free(nft);
    return rc;
}

long long ruleset_table_handle(const ruleset_opts *o) {
    char cmd[160], *out;
    snprintf(cmd, sizeof cmd, "list table inet %s", o->table);
    int rc = nft_list(cmd, NFT_CTX_OUTPUT_TERSE | NFT_CTX_OUTPUT_HANDLE, &out);
    if (rc != 0) return rc > 0 ? 0 : -1;
    const char *h = strstr(out, "# handle ");
    long long v = h ? strtoll(h + 9, NULL, 10) : -1;
    free(out);
    return v > 0 ? v : -1;
}

int ruleset_flush_sets(const ruleset_opts *o, char *err, size_t errcap) {
    if (ruleset_table_handle(o) == 0) return 1; /* nothing to empty (and nothing to say twelve times) */
    cmdbuf b = {0};
    for (int c = 0; c < GATE_CLASSES; c++)
        for (int f = 4; f <= 6; f += 2) {
            char name[64];
            gate_set_name((gate_class)c, f, name, sizeof name);
            add(&b, "flush set inet %s %s\n", o->table, name);
        }
    int rc = b.oom ? -1 : nft_apply(b.p, err, errcap);
    free(b.p);
    return rc;
}

const char *queue_kind_name(queue_kind k) {
    switch (k) {
    case QUEUE_NFT: return "nft queue statement";
    case QUEUE_XT: return "xt NFQUEUE target (iptables-nft)";
    default: return "none";
    }
}

#define MARK_CHAIN "msngate_mark"
#define QUEUE_CHAIN "msngate_queue"
/* DNS answers the gateway sends itself (its own resolver answering the
 * clients) leave by the output hook, not the forward one */
#define QUEUE_OUT_CHAIN "msngate_queue_out"

/* Runs argv quietly; returns its exit status, stderr (first line) in err. */
static int run(char *const argv[], char *err, size_t errcap) {
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        if (err) snprintf(err, errcap, "%s: cannot make a pipe for its messages: %s", argv[0], strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        if (err) snprintf(err, errcap, "%s: %s", argv[0], strerror(rc));
        return -1;
    }
    char buf[512];
    size_t n = 0;
    ssize_t r;
    while ((r = read(pipefd[0], buf + n, sizeof buf - 1 - n)) > 0 && n + (size_t)r < sizeof buf - 1) n += (size_t)r;
    if (r > 0) n += (size_t)r;
    while (read(pipefd[0], (char[256]){0}, 256) > 0) {
    }
    close(pipefd[0]);
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl) *nl = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    if (code && err) snprintf(err, errcap, "%s: %.400s", argv[0], buf[0] ? buf : "failed");
    return code;
}

static void ports_list(const ruleset_opts *o, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < o->ncontrol_ports && n < cap; i++) {
        int w = snprintf(out + n, cap - n, "%s%u", i ? "," : "", (unsigned)o->control_ports[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
}

static void xt_chain_name(const ruleset_opts *o, char *out, size_t cap) {
    snprintf(out, cap, "MSNGATE_Q%u", o->queue_num);
}

/* Runs `iptables -w ARGS...` and the same with ip6tables; with bypass,
 * --queue-bypass is appended. The first failure's message goes to err. */
static int xt(const ruleset_opts *o, char *err, size_t errcap, int bypass, const char *const *args) {
    const char *progs[2] = {o->iptables, o->ip6tables};
    int rc = 0;
    for (int f = 0; f < 2; f++) {
        const char *argv[24];
        size_t n = 0;
        argv[n++] = progs[f];
        argv[n++] = "-w";
        for (size_t i = 0; args[i] && n < 21; i++) argv[n++] = args[i];
        if (bypass) argv[n++] = "--queue-bypass";
        argv[n] = NULL;
        char e[1024];
        if (run((char *const *)argv, err ? e : NULL, sizeof e) != 0) {
            if (err && !rc) snprintf(err, errcap, "%s", e);
            rc = -1;
        }
    }
    return rc;
}

/* What OUTPUT jumps to the xt chain for: the DNS answers of the gateway's
 * own resolver (see nft_queue_rules), not those to its own programs. */
#define XT_OUT_MATCH "-p", "udp", "--sport", "53", "!", "-o", "lo"
#define XT_OUT_JUMP(op, chain) \
    { "-t", "mangle", op, "OUTPUT", XT_OUT_MATCH, "-j", chain, NULL }

static void xt_remove_chain(const ruleset_opts *o, const char *chain) {
    const char *del[] = {"-t", "mangle", "-D", "FORWARD", "-j", chain, NULL};
    const char *del_out[] = XT_OUT_JUMP("-D", chain);
    /* bounded: at most a few jumps were ever added */
    for (int i = 0; i < 4; i++)
        if (xt(o, NULL, 0, 0, del) != 0) break;
    for (int i = 0; i < 4; i++)
        if (xt(o, NULL, 0, 0, del_out) != 0) break;
    const char *flush[] = {"-t", "mangle", "-F", chain, NULL};
    const char *gone[] = {"-t", "mangle", "-X", chain, NULL};
    xt(o, NULL, 0, 0, flush);
    xt(o, NULL, 0, 0, gone);
}

static void xt_remove(const ruleset_opts *o) {
    char chain[32];
    xt_chain_name(o, chain, sizeof chain);
    xt_remove_chain(o, chain);
}

/* The mangle tables iptables-nft keeps the hook in: whether msngate made
 * them (they were not there when it added its hook), so that a clean stop
 * takes away what it made and nothing that was there before. One hook per
 * process. */
static const char *const mangle_family[2] = {"ip", "ip6"};
static int mangle_made[2];

static void note_mangle_tables(void) {
    for (int f = 0; f < 2; f++) {
        char cmd[64], *out;
        snprintf(cmd, sizeof cmd, "list table %s mangle", mangle_family[f]);
        int rc = nft_list(cmd, NFT_CTX_OUTPUT_TERSE, &out);
        free(out);
        if (rc == 1) mangle_made[f] = 1; /* there: msngate's only if it made it earlier and it stayed */
    }
}

/* Deletes a mangle table msngate made when nothing is left in it but
 * empty base chains. */
static void drop_made_mangle_tables(void) {
    static const char *const base[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
    for (int f = 0; f < 2; f++) {
        if (!mangle_made[f]) continue;
        char cmd[64], *out;
        snprintf(cmd, sizeof cmd, "list table %s mangle", mangle_family[f]);
        int rc = nft_list(cmd, NFT_CTX_OUTPUT_TERSE, &out);
        if (rc != 0) {
            if (rc == 1) mangle_made[f] = 0;
            continue;
        }
        int empty = 1;
        for (const char *line = out; *line && empty;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) : strlen(line);
            const char *p = line;
            while (*p == ' ' || *p == '\t') p++;
            size_t n = len - (size_t)(p - line);
            if (strncmp(p, "chain ", 6) == 0) {
                int known = 0;
                for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
                    size_t bl = strlen(base[i]);
                    if (n >= 6 + bl && strncmp(p + 6, base[i], bl) == 0 && (p[6 + bl] == ' ' || p[6 + bl] == '{'))
                        known = 1;
                }
                empty = known;
            } else if (!(n == 0 || p[0] == '}' || p[0] == '#' || strncmp(p, "table ", 6) == 0 ||
                         strncmp(p, "type ", 5) == 0)) {
                empty = 0; /* a rule, or a set, or ... */
            }
            line += len;
            if (*line == '\n') line++;
        }
        free(out);
        if (!empty) continue;
        char e[1024];
        snprintf(cmd, sizeof cmd, "delete table %s mangle\n", mangle_family[f]);
        if (nft_apply(cmd, e, sizeof e) == 0) mangle_made[f] = 0;
    }
}

/* Queue numbers a program has bound in this network namespace
 * (/proc/net/netfilter/nfnetlink_queue, the queue number first). */
static int queue_bound(unsigned num) {
    FILE *fp = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
    if (!fp) return 0;
    char line[256];
    int bound = 0;
    while (!bound && fgets(line, sizeof line, fp)) {
        char *end;
        unsigned long q = strtoul(line, &end, 10);
        if (end != line && q == num) bound = 1;
    }
    fclose(fp);
    return bound;
}

int ruleset_remove_left(const ruleset_opts *o, int inline_mode, char *said, size_t saidcap) {
    size_t n = 0;
    int removed = 0;
    said[0] = '\0';
    /* the nft hook and the connmark chain of this table: the table is this
     * process's (one msngate per table), so whatever is there was left */
    static const char *const own[] = {QUEUE_CHAIN, QUEUE_OUT_CHAIN, MARK_CHAIN};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        char cmd[200], *out, e[1024];
        snprintf(cmd, sizeof cmd, "list chain inet %s %s", o->table, own[i]);
        int rc = nft_list(cmd, NFT_CTX_OUTPUT_TERSE, &out);
        free(out);
        if (rc != 0) continue;
        snprintf(cmd, sizeof cmd, "delete chain inet %s %s\n", o->table, own[i]);
        if (nft_apply(cmd, e, sizeof e) != 0) continue;
        removed++;
        if (n < saidcap) n += (size_t)snprintf(said + n, saidcap - n, "%schain %s", n ? ", " : "", own[i]);
    }
    /* the xt hooks, MSNGATE_Q<queue>, whatever queue the run that left them
     * had: each whose queue nobody reads (a running msngate on another
     * table reads its own), and in inline mode this run's queue's */
    unsigned long done[32];
    size_t ndone = 0;
    for (int f = 0; f < 2; f++) {
        char cmd[64], *out;
        snprintf(cmd, sizeof cmd, "list table %s mangle", mangle_family[f]);
        if (nft_list(cmd, NFT_CTX_OUTPUT_TERSE, &out) != 0) continue;
        for (const char *p = out; (p = strstr(p, "chain MSNGATE_Q")) != NULL;) {
            p += 15;
            char *end;
            unsigned long q = strtoul(p, &end, 10);
            if (end == p || (*end != ' ' && *end != '{') || q > 65535) continue;
            if (inline_mode ? q != o->queue_num && queue_bound((unsigned)q) : queue_bound((unsigned)q)) continue;
            int seen = 0; /* in both families: removed from both at once */
            for (size_t i = 0; i < ndone; i++) seen |= done[i] == q;
            if (seen || ndone == sizeof done / sizeof done[0]) continue;
            done[ndone++] = q;
            char chain[32];
            snprintf(chain, sizeof chain, "MSNGATE_Q%lu", q);
            if (n < saidcap) n += (size_t)snprintf(said + n, saidcap - n, "%s%s", n ? ", " : "", chain);
            xt_remove_chain(o, chain);
            removed++;
        }
        free(out);
    }
    return removed;
}

static int xt_install(const ruleset_opts *o, char *err, size_t errcap) {
    char chain[32], qn[16], ports[256], mc[32], ms[32];
    xt_chain_name(o, chain, sizeof chain);
    snprintf(qn, sizeof qn, "%u", o->queue_num);
    snprintf(mc, sizeof mc, "0x%x/0x%x", o->mark_control, o->mark_control);
    snprintf(ms, sizeof ms, "0x%x/0x%x", o->mark_secondary, o->mark_secondary);
    ports_list(o, ports, sizeof ports);
    const char *mk[] = {"-t", "mangle", "-N", chain, NULL};
    const char *dports[] = {"-t",       "mangle", "-A", chain,     "-p",          "tcp", "-m", "multiport",
                            "--dports", ports,    "-j", "NFQUEUE", "--queue-num", qn,    NULL};
    const char *sports[] = {"-t",       "mangle", "-A", chain,     "-p",          "tcp", "-m", "multiport",
                            "--sports", ports,    "-j", "NFQUEUE", "--queue-num", qn,    NULL};
    const char *control[] = {"-t", "mangle", "-A",      chain,         "-m", "connmark", "--mark",
                             mc,   "-j",     "NFQUEUE", "--queue-num", qn,   NULL};
    const char *secondary[] = {"-t",       "mangle", "-A", chain, "-m",      "conntrack",   "--ctstate", "NEW", "-m",
                               "connmark", "--mark", ms,   "-j",  "NFQUEUE", "--queue-num", qn,          NULL};
    const char *dns[] = {"-t", "mangle", "-A",      chain,         "-p", "udp", "--sport",
                         "53", "-j",     "NFQUEUE", "--queue-num", qn,   NULL};
    const char *jump[] = {"-t", "mangle", "-I", "FORWARD", "1", "-j", chain, NULL};
    const char *jump_out[] = {"-t", "mangle", "-I", "OUTPUT", "1", XT_OUT_MATCH, "-j", chain, NULL};
    note_mangle_tables();
    if (xt(o, err, errcap, 0, mk) != 0) return -1;
    int rc = 0;
    if (o->ncontrol_ports)
        rc = xt(o, err, errcap, o->queue_bypass, dports) | xt(o, err, errcap, o->queue_bypass, sports);
    rc = rc | xt(o, err, errcap, o->queue_bypass, dns); /* see nft_queue_rules */
    rc = rc | xt(o, err, errcap, o->queue_bypass, control) | xt(o, err, errcap, o->queue_bypass, secondary);
    if (rc == 0) rc = xt(o, err, errcap, 0, jump_out) | xt(o, err, errcap, 0, jump);
    if (rc != 0) xt_remove(o);
    return rc;
}

/* The connmark chain: runs before the mangle hook (-150) where the
 * queue rules sit, so a switchboard or predicted connection's first
 * packet is already marked when it reaches them. */
static void mark_chain(cmdbuf *b, const ruleset_opts *o) {
    add(b, "add chain inet %s " MARK_CHAIN " { type filter hook forward priority -160; policy accept; }\n", o->table);
    add(b, "flush chain inet %s " MARK_CHAIN "\n", o->table);
    for (int c = 0; c < GATE_CLASSES; c++)
        for (int f = 4; f <= 6; f += 2) {
            char name[64];
            gate_set_name((gate_class)c, f, name, sizeof name);
            add(b,
                "add rule inet %s " MARK_CHAIN
                " ct state new %s daddr . meta l4proto . th dport @%s ct mark set ct mark or 0x%x\n",
                o->table, f == 6 ? "ip6" : "ip", name, c == GATE_SWITCHBOARD ? o->mark_control : o->mark_secondary);
        }
}

static void nft_queue_rules(cmdbuf *b, const ruleset_opts *o) {
    const char *bp = o->queue_bypass ? " bypass" : "";
    char ports[256];
    ports_list(o, ports, sizeof ports);
    add(b, "add chain inet %s " QUEUE_CHAIN " { type filter hook forward priority -150; policy accept; }\n", o->table);
    add(b, "flush chain inet %s " QUEUE_CHAIN "\n", o->table);
    if (o->ncontrol_ports) {
        add(b, "add rule inet %s " QUEUE_CHAIN " tcp dport { %s } queue num %u%s\n", o->table, ports, o->queue_num, bp);
        add(b, "add rule inet %s " QUEUE_CHAIN " tcp sport { %s } queue num %u%s\n", o->table, ports, o->queue_num, bp);
    }
    /* DNS answers: an invitation naming a host name is checked and opened
     * when the answer resolving it crosses the gateway (the analyzer's
     * expect_resolved); the answer's verdict waits for that element */
    add(b, "add rule inet %s " QUEUE_CHAIN " udp sport 53 queue num %u%s\n", o->table, o->queue_num, bp);
    add(b, "add rule inet %s " QUEUE_CHAIN " ct mark and 0x%x == 0x%x queue num %u%s\n", o->table, o->mark_control,
        o->mark_control, o->queue_num, bp);
    add(b, "add rule inet %s " QUEUE_CHAIN " ct state new ct mark and 0x%x == 0x%x queue num %u%s\n", o->table,
        o->mark_secondary, o->mark_secondary, o->queue_num, bp);
    /* DNS answers the gateway gives itself, as the clients' resolver
     * (dnsmasq, unbound): they leave by the output hook and never cross
     * forward. The upstream answers that reach the gateway are not needed:
     * a client learns the address from the answer it gets. */
    add(b, "add chain inet %s " QUEUE_OUT_CHAIN " { type filter hook output priority -150; policy accept; }\n",
        o->table);
    add(b, "flush chain inet %s " QUEUE_OUT_CHAIN "\n", o->table);
    add(b, "add rule inet %s " QUEUE_OUT_CHAIN " oifname != \"lo\" udp sport 53 queue num %u%s\n", o->table,
        o->queue_num, bp);
}

void ruleset_remove_queue(const ruleset_opts *o) {
    char e[1024];
    cmdbuf b = {0};
    /* "delete" of a missing chain fails the transaction: one per call */
    add(&b, "delete chain inet %s " QUEUE_CHAIN "\n", o->table);
    if (!b.oom) nft_apply(b.p, e, sizeof e);
    b.n = 0;
    add(&b, "delete chain inet %s " QUEUE_OUT_CHAIN "\n", o->table);
    if (!b.oom) nft_apply(b.p, e, sizeof e);
    b.n = 0;
    add(&b, "delete chain inet %s " MARK_CHAIN "\n", o->table);
    if (!b.oom) nft_apply(b.p, e, sizeof e);
    free(b.p);
    xt_remove(o);
    drop_made_mangle_tables();
}

/* One of the twelve set names at p (followed by no more of a name)? */
static int names_a_set(const char *p) {
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_') n++;
    for (int c = 0; c < GATE_CLASSES; c++)
        for (int f = 4; f <= 6; f += 2) {
            char name[64];
            gate_set_name((gate_class)c, f, name, sizeof name);
            if (strlen(name) == n && memcmp(name, p, n) == 0) return 1;
        }
    return 0;
}

int ruleset_sets_in_use(const ruleset_opts *o) {
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!nft) return -1;
    nft_ctx_output_set_flags(nft, NFT_CTX_OUTPUT_TERSE); /* without the elements */
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "list table inet %s", o->table);
    int used = 0;
    if (nft_run_cmd_from_buffer(nft, cmd) != 0) {
        const char *e = nft_ctx_get_error_buffer(nft);
        used = e && strstr(e, "No such file or directory") ? 0 : -1; /* no table: nothing uses the sets */
        nft_ctx_free(nft);
        return used;
    }
    const char *out = nft_ctx_get_output_buffer(nft);
    int own = 1; /* in msngate's chains, a set, or outside any chain */
    for (const char *line = out ? out : ""; *line && !used;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "chain ", 6) == 0) {
            p += 6;
            own = strncmp(p, MARK_CHAIN " ", sizeof MARK_CHAIN) == 0 ||
                strncmp(p, QUEUE_CHAIN " ", sizeof QUEUE_CHAIN) == 0 ||
                strncmp(p, QUEUE_OUT_CHAIN " ", sizeof QUEUE_OUT_CHAIN) == 0;
        } else if (strncmp(p, "set ", 4) == 0 || strncmp(p, "map ", 4) == 0) {
            own = 1;
        } else if (!own) {
            for (const char *q = p; q < line + len && !used; q++)
                if (*q == '@' && names_a_set(q + 1)) used = 1;
        }
        line += len;
        if (*line == '\n') line++;
    }
    nft_ctx_free(nft);
    return used;
}

int ruleset_queue_present(const ruleset_opts *o, queue_kind kind) {
    char e[1024];
    cmdbuf b = {0};
    char name[64];
    gate_set_name(GATE_SWITCHBOARD, 6, name, sizeof name); /* the last set made */
    add(&b, "list set inet %s %s\n", o->table, name);
    add(&b, "list chain inet %s " MARK_CHAIN "\n", o->table);
    if (kind == QUEUE_NFT) {
        add(&b, "list chain inet %s " QUEUE_CHAIN "\n", o->table);
        add(&b, "list chain inet %s " QUEUE_OUT_CHAIN "\n", o->table);
    }
    int ok = !b.oom && nft_apply(b.p, e, sizeof e) == 0;
    free(b.p);
    if (ok && kind == QUEUE_XT) {
        char chain[32];
        xt_chain_name(o, chain, sizeof chain);
        const char *check[] = {"-t", "mangle", "-C", "FORWARD", "-j", chain, NULL};
        const char *check_out[] = XT_OUT_JUMP("-C", chain);
        ok = xt(o, NULL, 0, 0, check) == 0 && xt(o, NULL, 0, 0, check_out) == 0;
    }
    return ok;
}

int ruleset_install_queue(const ruleset_opts *o, queue_kind *kind, char *err, size_t errcap) {
    *kind = QUEUE_NONE;
    ruleset_remove_queue(o); /* what a crashed run left */
    cmdbuf b = {0};
    mark_chain(&b, o);
    if (b.oom || nft_apply(b.p, err, errcap) != 0) {
        free(b.p);
        return -1;
    }
    b.n = 0;
    nft_queue_rules(&b, o);
    char nerr[1024];
    if (!b.oom && nft_apply(b.p, nerr, sizeof nerr) == 0) {
        *kind = QUEUE_NFT;
        free(b.p);
        return 0;
    }
    free(b.p);
    /* no nft queue statement in this kernel (NFT_QUEUE): the xt target */
    if (xt_install(o, err, errcap) != 0) {
        size_t n = strlen(err);
        snprintf(err + n, errcap - n, " (nft queue statement failed too: %s)", nerr);
        ruleset_remove_queue(o);
        return -1;
    }
    *kind = QUEUE_XT;
    return 0;
}
