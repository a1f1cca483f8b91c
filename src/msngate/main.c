/* msngate - live enforcer: MSN predictions become nftables pinholes
 * before the peer connects.
 *
 *   passive: libpcap (immediate mode) on an interface -> analyzer ->
 *            set elements over netlink, committed at once
 *   inline:  the MSN control connections pass through NFQUEUE; a packet
 *            that carries a prediction gets its verdict only after the
 *            kernel acknowledged the element, so the peer cannot come
 *            first
 *
 * See docs/msngate.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <pcap/pcap.h>

#include <msnkit/special.h>
#include <msnp/msnp.h>

#include "adapter.h"
#include "capture.h"
#include "decode.h"
#include "config.h"
#include "engine.h"
#include "nftset.h"
#include "pinholes.h"
#include "ruleset.h"
#include "sides.h"
#include "stats.h"

#define LINKTYPE_RAW 101

static volatile sig_atomic_t sig_stop, sig_hup, sig_usr1;
static pcap_t *active_pcap;

static void on_signal(int sig) {
    if (sig == SIGHUP) sig_hup = 1;
    else if (sig == SIGUSR1) sig_usr1 = 1;
    else sig_stop = 1;
    if (active_pcap && sig != SIGUSR1 && sig != SIGHUP) pcap_breakloop(active_pcap);
}

typedef struct override {
    const char *key, *value;
} override;

#define MAX_OVERRIDES 64

typedef struct gate {
    gate_config cfg;
    const char *config_path;
    override ov[MAX_OVERRIDES];
    int nov;
    gate_stats st;
    nftset *set;
    pinholes *holes;
    gate_adapter adapter;
    sn_engine *eng;
    ruleset_opts ro;
    queue_kind qkind;
    uint64_t last_stats, last_expire, last_hook_check, last_filter_check; /* monotonic µs */
    /* whether a chain of the administrator's uses the sets (check_filter):
     * not yet; not since the start, said; yes; not any more, said */
    enum { FILTER_UNSEEN, FILTER_NEVER_USED, FILTER_USED, FILTER_LOST } filter;
    int filter_checks;          /* looks so far */
    long long table_handle;     /* the kernel's handle of the table the sets are in (passive: check_sets) */
    uint64_t last_evicted_said; /* analyzer evictions last said (monotonic µs; 0: never) */
    uint64_t evicted_said, not_admitted_said; /* and the counts then */
    /* the reverse-path check: the routing table, and the log's pace */
    gate_sides *rp;
    uint64_t rp_said_us, rp_said_n;
    int rp_unreadable_said;
    /* passive */
    pcap_t *cap;
    int cap_fd, linktype;
    int cap_ifindex;    /* a single interface's index (0: "any") */
    uint8_t cap_mac[6]; /* its Ethernet address, which the frames it sends carry */
    int cap_has_mac;
    uint64_t cap_lost_said; /* capture_drops + capture_truncated when the log last said so */
    /* inline */
    struct nfq_handle *nfq;
    struct nfq_q_handle *qh;
    int hook_installed; /* this run put the queue hook in (and takes it out at exit) */
} gate;

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: msngate [options]\n"
            "  -c, --config FILE       INI file ([msngate] section; the options below override it)\n"
            "  --mode passive|inline   capture and open (passive), or hold control packets until\n"
            "                          their pinholes are committed (inline, NFQUEUE)\n"
            "  -i, --interface IFACE   passive: capture here\n"
            "  --filter EXPR           passive: BPF filter (default: everything)\n"
            "  --direction in|inout    passive: packets entering the interface only (use with -i any)\n"
            "  --table NAME            inet table holding the sets (default msngate)\n"
            "  --queue-num N           inline: NFQUEUE number (default 1863)\n"
            "  --queue-bypass          inline: traffic passes when msngate is down (default)\n"
            "  --fail-closed           inline: traffic of the queued flows stops when msngate is down\n"
            "  --control-ports LIST    inline: TCP ports of the notification servers (default 1863)\n"
            "  --expect-timeout SEC    pinhole lifetime (default 300)\n"
            "  --hit-grace SEC         delete a seen connection's pinhole this much later (default 5)\n"
            "  --forged open|skip      announced address of a third host (default skip)\n"
            "  --nat open|skip         announced private address behind NAT (default open)\n"
            "  --reverse-path strict|off  analyse only packets whose source routes back out of the\n"
            "                          interface they came by (default strict)\n"
            "  --max-pinholes N        pinholes open at once (default 65536)\n"
            "  --stats-interval SEC    status line period (default 60, 0 = on SIGUSR1 only)\n"
            "  --stats-file PATH       JSON stats rewritten with each status line\n"
            "  --realtime              run under SCHED_FIFO (a busy host delays pinholes less)\n"
            "  -v, --verbose           log every element opened and closed, every hit\n"
            "  -h, --help, --version\n");
}

static int load_config(gate *g, gate_config *out, char *err, size_t errcap) {
    gate_config_defaults(out);
    if (g->config_path && gate_config_load(out, g->config_path, err, errcap) != 0) return -1;
    for (int i = 0; i < g->nov; i++) {
        char e[256];
        if (gate_config_set(out, g->ov[i].key, g->ov[i].value, e, sizeof e) != 0) {
            /* the option as it is typed: --queue-num for the key queue_num */
            char opt[64];
            snprintf(opt, sizeof opt, "%s", g->ov[i].key);
            for (char *p = opt; *p; p++)
                if (*p == '_') *p = '-';
            snprintf(err, errcap, "--%s: %s", opt, e);
            return -1;
        }
    }
    return 0;
}

/* What the settings' own checks cannot see: a table name nft reads as one
 * of its words, a capture filter libpcap cannot compile. Said before
 * anything is opened or changed, as a configuration error. */
static int check_config(const gate_config *c, char *err, size_t errcap) {
    if (!ruleset_table_name_ok(c->table)) {
        snprintf(err, errcap, "table \"%s\": nft reads this name as one of its own words; choose another (e.g. %s_gw)",
                 c->table, c->table);
        return -1;
    }
    if (c->mark_control == c->mark_secondary) {
        snprintf(err, errcap,
                 "mark_control and mark_secondary are both 0x%x: a secondary connection's packets would all go "
                 "through the queue; give them different marks",
                 (unsigned)c->mark_control);
        return -1;
    }
    const char *special = msnkit_special_file(c->stats_file); /* msnkit/special.h */
    if (special) {
        snprintf(err, errcap,
                 "stats_file %s is not a regular file (%s): msngate writes a new stats file over the name; "
                 "name a file, or leave stats_file out",
                 c->stats_file, special);
        return -1;
    }
    if (c->mode == GATE_PASSIVE && c->filter[0]) {
        pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
        struct bpf_program prog;
        int bad = !dead || pcap_compile(dead, &prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) != 0;
        if (bad) snprintf(err, errcap, "filter \"%s\": %s", c->filter, dead ? pcap_geterr(dead) : "out of memory");
        else pcap_freecode(&prog);
        if (dead) pcap_close(dead);
        if (bad) return -1;
    }
    return 0;
}

/* One msngate per table in a network namespace: a second one would empty
 * the first's sets at its start and stop, and neither would know. The
 * claim is an flock on a file of LOCK_DIR named after the network namespace
 * (its inode) and the table, held until exit: the directory is root's
 * (made 0700 when missing, refused when another user could write in it),
 * so no unprivileged process can take the claim first. */
#define LOCK_DIR "/run/msngate"

static char lock_path[sizeof LOCK_DIR + 240];

static int take_table(const char *table, char *err, size_t errcap) {
    struct stat ns, d;
    if (stat("/proc/self/ns/net", &ns) != 0) return 0; /* cannot tell: go on */
    if (mkdir(LOCK_DIR, 0700) != 0 && errno != EEXIST) {
        if (errno == EACCES || errno == EPERM || errno == EROFS) return 0; /* not root: nftables says what is wrong */
        snprintf(err, errcap, "%s: %s", LOCK_DIR, strerror(errno));
        return -1;
    }
    if (lstat(LOCK_DIR, &d) != 0 || !S_ISDIR(d.st_mode) || d.st_uid != geteuid() || (d.st_mode & 022)) {
        snprintf(err, errcap,
                 "%s (where msngate claims its table) is not a directory only this user (uid %u) can write in; "
                 "remove it, msngate makes it",
                 LOCK_DIR, (unsigned)geteuid());
        return -1;
    }
    /* the table's name as a file name: '/' and '%' escaped */
    char name[3 * 256 + 1];
    size_t n = 0;
    for (const char *p = table; *p && n + 4 < sizeof name; p++) {
        if (*p == '/' || *p == '%') n += (size_t)snprintf(name + n, sizeof name - n, "%%%02X", (unsigned char)*p);
        else name[n++] = *p;
    }
    name[n] = '\0';
    for (int attempt = 0; attempt < 8; attempt++) {
        if (snprintf(lock_path, sizeof lock_path, LOCK_DIR "/net%llu.%.200s.lock", (unsigned long long)ns.st_ino,
                     name) >= (int)sizeof lock_path)
            return 0;
        int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errcap, "%s: %s", lock_path, strerror(errno));
            lock_path[0] = '\0';
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            lock_path[0] = '\0';
            if (e != EWOULDBLOCK) return 0;
            snprintf(err, errcap,
                     "another msngate runs on table inet %s in this network namespace: stop it first, or give this "
                     "one another --table",
                     table);
            return -1;
        }
        /* the file locked is still the one of that name (the last owner
         * removes it at its exit): kept open until exit */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lock_path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) return 0;
        close(fd);
    }
    lock_path[0] = '\0';
    return 0;
}

/* At a clean exit, still holding the claim. */
static void release_table(void) {
    if (lock_path[0]) unlink(lock_path);
}

static void report(gate *g) {
    gate_stats_line(&g->st, pinholes_count(g->holes), stderr);
    if (g->cfg.stats_file[0] &&
        gate_stats_write_json(&g->st, pinholes_count(g->holes), g->cfg.mode == GATE_INLINE ? "inline" : "passive",
                              g->cfg.mode == GATE_INLINE ? queue_kind_name(g->qkind) : "none", g->cfg.stats_file) != 0)
        fprintf(stderr, "msngate: stats_file %s: %s\n", g->cfg.stats_file, strerror(errno));
}

/* Queue drops the kernel counted: /proc/net/netfilter/nfnetlink_queue
 * (queue, portid, waiting, mode, range, dropped, user_dropped, id, 1). */
static void read_queue_drops(gate *g) {
    FILE *fp = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
    if (!fp) return;
    unsigned q, portid, waiting, mode, range;
    unsigned long long dropped, udropped;
    while (fscanf(fp, "%u %u %u %u %u %llu %llu %*u %*u", &q, &portid, &waiting, &mode, &range, &dropped, &udropped) ==
           7)
        if (q == g->cfg.queue_num) {
            g->st.queue_drops = dropped;
            g->st.queue_user_drops = udropped;
        }
    fclose(fp);
}

/* Settings that work but defeat their purpose: said at start and reload. */
static void warn_settings(const gate_config *c) {
    if (c->stats_file[0]) { /* written at each status line: a missing directory is said now, not then */
        char dir[sizeof c->stats_file];
        snprintf(dir, sizeof dir, "%s", c->stats_file);
        char *slash = strrchr(dir, '/');
        if (slash == dir) slash[1] = '\0';
        else if (slash) *slash = '\0';
        else snprintf(dir, sizeof dir, ".");
        struct stat st;
        int rc = stat(dir, &st), e = errno;
        if (rc != 0 || !S_ISDIR(st.st_mode))
            fprintf(stderr,
                    "msngate: warning: stats_file %s: directory %s: %s (under systemd the unit's "
                    "RuntimeDirectory makes /run/msngate)\n",
                    c->stats_file, dir, rc != 0 ? strerror(e) : "not a directory");
    }
    if (c->hit_grace_s < 3)
        fprintf(stderr,
                "msngate: warning: hit_grace %u s is shorter than TCP's second SYN retransmission (3 s): a peer "
                "whose first SYN came before its element may find the element gone (default 5)\n",
                c->hit_grace_s);
}

static void reload(gate *g) {
    gate_config c;
    char err[512];
    if (load_config(g, &c, err, sizeof err) != 0 || check_config(&c, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: reload refused, keeping the running settings: %s\n", err);
        return;
    }
    if (c.mode != g->cfg.mode || strcmp(c.interface, g->cfg.interface) || strcmp(c.table, g->cfg.table) ||
        c.queue_num != g->cfg.queue_num || c.queue_bypass != g->cfg.queue_bypass ||
        c.ncontrol_ports != g->cfg.ncontrol_ports ||
        memcmp(c.control_ports, g->cfg.control_ports, c.ncontrol_ports * sizeof c.control_ports[0]) ||
        strcmp(c.filter, g->cfg.filter) || c.capture_in_only != g->cfg.capture_in_only || c.memcap != g->cfg.memcap ||
        c.capture_buf_mb != g->cfg.capture_buf_mb ||
        /* the marks are in the installed rules, the scheduling and the
         * xt programs chosen at start: not changed by a reload either */
        c.mark_control != g->cfg.mark_control || c.mark_secondary != g->cfg.mark_secondary ||
        c.realtime != g->cfg.realtime || strcmp(c.iptables, g->cfg.iptables) || strcmp(c.ip6tables, g->cfg.ip6tables))
        fprintf(stderr,
                "msngate: reload: mode, interface, filter, table, queue, mark, memcap, capture buffer, realtime and "
                "iptables settings take effect at the next start\n");
    /* what can change while running */
    g->cfg.forged_policy = c.forged_policy;
    g->cfg.nat_policy = c.nat_policy;
    g->cfg.reverse_path = c.reverse_path;
    g->cfg.max_pinholes = c.max_pinholes;
    if (c.expect_timeout_s != g->cfg.expect_timeout_s)
        sn_engine_set_expect_timeout(g->eng, (uint64_t)c.expect_timeout_s * 1000000u);
    g->cfg.expect_timeout_s = c.expect_timeout_s;
    g->cfg.hit_grace_s = c.hit_grace_s;
    g->cfg.stats_interval_s = c.stats_interval_s;
    memcpy(g->cfg.stats_file, c.stats_file, sizeof c.stats_file);
    g->cfg.verbose = c.verbose;
    pinholes_configure(g->holes, &g->cfg);
    fprintf(stderr,
            "msngate: configuration reloaded (forged=%s nat=%s reverse_path=%s expect_timeout=%us max_pinholes=%u)\n",
            g->cfg.forged_policy == GATE_POLICY_OPEN ? "open" : "skip",
            g->cfg.nat_policy == GATE_POLICY_OPEN ? "open" : "skip", g->cfg.reverse_path ? "strict" : "off",
            g->cfg.expect_timeout_s, g->cfg.max_pinholes);
    warn_settings(&g->cfg);
}

/* Inline mode: a firewall reloaded without msngate's chains ("flush
 * ruleset", a rule set file applied whole) leaves nothing queued, so no
 * commit would ever fail to tell; every few seconds the hook is looked
 * for, and put back with the sets and their open elements if gone. */
#define HOOK_CHECK_US 2000000u

/* A rule set loaded just after msngate (a boot order) is not worth a
 * warning: the filter's absence is said from the third look (4 s) on. */
#define FILTER_GRACE_CHECKS 3

static void check_hook(gate *g) {
    if (ruleset_queue_present(&g->ro, g->qkind)) return;
    char err[2048];
    fprintf(stderr, "msngate: the queue hook or the sets of table inet %s were removed; installing them again\n",
            g->cfg.table);
    if (ruleset_setup_sets(&g->ro, err, sizeof err) != 0 ||
        ruleset_install_queue(&g->ro, &g->qkind, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: installing them again failed: %s (trying again in 2 s)\n", err);
        return;
    }
    pinholes_readd(g->holes);
}

/* The filtering is the administrator's: chains in the table whose rules
 * name the sets (contrib/msngate.nft's forward filter). Deleting the table
 * or flushing the ruleset takes them away with the sets; the sets come back
 * (at the next commit, or check_hook), those chains cannot: their policy is
 * not msngate's to write. Said once when they go, and when they are back;
 * and once when there has been none since the start (the rule set never
 * loaded), after FILTER_GRACE_CHECKS looks. */
static void check_filter(gate *g) {
    int used = ruleset_sets_in_use(&g->ro);
    if (used < 0) return;
    g->filter_checks++;
    if (used) {
        if (g->filter == FILTER_NEVER_USED)
            fprintf(stderr, "msngate: a chain of table inet %s uses its sets now: the gateway filters\n", g->cfg.table);
        else if (g->filter == FILTER_LOST)
            fprintf(stderr, "msngate: a chain of table inet %s uses its sets again: the gateway filters again\n",
                    g->cfg.table);
        g->filter = FILTER_USED;
    } else if (g->filter == FILTER_USED) {
        fprintf(stderr,
                "msngate: error: no chain of table inet %s uses its sets any more (table deleted or ruleset "
                "flushed): the gateway no longer filters the connections msngate predicts; load the rule set again "
                "(nft -f contrib/msngate.nft, or the site's)\n",
                g->cfg.table);
        g->filter = FILTER_LOST;
    } else if (g->filter == FILTER_UNSEEN && g->filter_checks >= FILTER_GRACE_CHECKS) {
        fprintf(stderr,
                "msngate: warning: no chain of table inet %s uses its sets since msngate started: the gateway does "
                "not filter the connections msngate predicts until a rule set that does is loaded (nft -f "
                "contrib/msngate.nft, or the site's)\n",
                g->cfg.table);
        g->filter = FILTER_NEVER_USED;
    }
}

/* Passive mode: the sets of a table made again (deleted, or a ruleset
 * applied whole with "flush ruleset" first, as reloading nftables does,
 * which makes the table and its sets again, empty) lost their open
 * elements, and no commit fails to tell. The table's handle changes with
 * it: looked at every 2 s; changed, the sets are made (if missing) and
 * every open element is added again. */
static void check_sets(gate *g) {
    long long h = ruleset_table_handle(&g->ro);
    if (h < 0 || h == g->table_handle) return;
    char err[1024];
    fprintf(stderr,
            "msngate: table inet %s was %s (a ruleset reloaded?): making its sets again and adding the %zu open "
            "pinholes again\n",
            g->cfg.table, h == 0 ? "removed" : "replaced", pinholes_count(g->holes));
    if (ruleset_setup_sets(&g->ro, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: making the sets again failed: %s (trying again in 2 s)\n", err);
        return;
    }
    g->table_handle = ruleset_table_handle(&g->ro);
    pinholes_readd(g->holes);
}

/* The analyzer closes the least recently seen flow when its memory budget
 * (memcap_mb) or its flow bound is reached; a switchboard session among
 * them is not followed any more, and its invitations open nothing. Counted
 * (analyzer_evicted) and said: at the first, then at most once a minute. */
#define EVICTION_SAY_US 60000000u

static void check_evictions(gate *g, uint64_t now) {
    const sn_stats *ss = sn_engine_stats(g->eng);
    g->st.analyzer_evicted = ss->flows_evicted_bound;
    g->st.analyzer_not_admitted = ss->packets_not_admitted;
    uint64_t ev = g->st.analyzer_evicted, na = g->st.analyzer_not_admitted;
    if (ev + na == g->evicted_said + g->not_admitted_said) return;
    if (g->last_evicted_said && now - g->last_evicted_said < EVICTION_SAY_US) return;
    fprintf(stderr,
            "msngate: warning: the analyzer's memory is full (memcap_mb %llu): %llu flows closed under memory "
            "pressure to admit new ones, %llu packets of new flows not analysed (%llu and %llu in all); the "
            "sessions of those flows are no longer followed and their invitations open no pinhole: raise "
            "memcap_mb, or narrow what is captured (--filter)\n",
            (unsigned long long)(g->cfg.memcap >> 20), (unsigned long long)(ev - g->evicted_said),
            (unsigned long long)(na - g->not_admitted_said), (unsigned long long)ev, (unsigned long long)na);
    g->evicted_said = ev;
    g->not_admitted_said = na;
    g->last_evicted_said = now;
}

static void check_capture_loss(gate *g);

/* Signals, timers: called between packets. */
static void tick(gate *g) {
    if (sig_hup) {
        sig_hup = 0;
        reload(g);
    }
    uint64_t now = mono_us();
    if (now - g->last_expire >= 1000000u) {
        g->last_expire = now;
        uint64_t rt = real_us();
        sn_engine_tick(g->eng, rt);
        pinholes_expire(g->holes, rt);
        pinholes_commit(g->holes, 1); /* deletes of hits whose grace is over */
        check_capture_loss(g);
        check_evictions(g, now);
    }
    if (now - g->last_hook_check >= HOOK_CHECK_US) {
        g->last_hook_check = now;
        if (g->hook_installed) check_hook(g);
        else if (g->cfg.mode == GATE_PASSIVE) check_sets(g);
    }
    if (now - g->last_filter_check >= HOOK_CHECK_US) {
        g->last_filter_check = now;
        check_filter(g);
    }
    int due = g->cfg.stats_interval_s && now - g->last_stats >= (uint64_t)g->cfg.stats_interval_s * 1000000u;
    if (sig_usr1 || due) {
        sig_usr1 = 0;
        g->last_stats = now;
        if (g->cfg.mode == GATE_INLINE) read_queue_drops(g);
        else check_capture_loss(g);
        check_evictions(g, now);
        report(g);
    }
}

static int recreate_sets(void *ctx) {
    gate *g = ctx;
    char err[1024];
    if (ruleset_setup_sets(&g->ro, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: re-creating the sets failed: %s\n", err);
        return -1;
    }
    fprintf(stderr, "msngate: sets of table inet %s were missing; re-created\n", g->cfg.table);
    g->table_handle = ruleset_table_handle(&g->ro); /* the open elements go in now: not again at check_sets */
    return 0;
}

/* ---- reverse path ------------------------------------------------------ */

/* What the firewall accepts is what the routing table sends back the way
 * it came (strict rp_filter, and helpers that only see accepted traffic):
 * a packet whose source the gateway routes out of another interface than
 * the one it arrived on is forged, or dropped by the kernel, and what it
 * says is not analysed. Packets the gateway sends (forwarded ones, passed
 * already) and those whose ingress is not known are analysed. */

#define RP_LOG_US 10000000u /* at most one line per 10 s */

/* The IP source of a packet from its network header on. 1 when found. */
static int ip_source(const u_char *d, size_t n, sn_addr *src) {
    if (n >= 20 && d[0] >> 4 == 4) {
        sn_addr_set_words(src, 0, 0, 0);
        memcpy(src->b, d + 12, 4);
        src->family = 4;
        return 1;
    }
    if (n >= 40 && d[0] >> 4 == 6) {
        memcpy(src->b, d + 8, 16);
        src->family = 6;
        return 1;
    }
    return 0;
}

/* From an ethertype at d[-2..-1] on: past VLAN tags, the IP source. */
static int ether_source(unsigned type, const u_char *d, size_t n, sn_addr *src) {
    for (int tags = 0; (type == 0x8100 || type == 0x88a8 || type == 0x9100) && tags < 4 && n >= 4; tags++) {
        type = (unsigned)d[2] << 8 | d[3];
        d += 4;
        n -= 4;
    }
    if (type != 0x0800 && type != 0x86dd) return 0;
    return ip_source(d, n, src);
}

/* A captured frame's IP source (1 when found), the interface it arrived
 * on (*ingress, 0 when not known) and whether the gateway sent it. */
static int frame_source(const gate *g, const u_char *d, size_t n, sn_addr *src, int *ingress, int *sent) {
    *ingress = 0;
    *sent = 0;
    switch (g->linktype) {
    case DLT_LINUX_SLL2: /* protocol, reserved, ifindex, hatype, pkttype, halen, address */
        if (n < 20) return 0;
        *ingress = (int)((uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7]);
        *sent = d[10] == PACKET_OUTGOING;
        return ether_source((unsigned)d[0] << 8 | d[1], d + 20, n - 20, src);
    case DLT_LINUX_SLL: /* no interface index: nothing to check against */
        return n >= 16 && ether_source((unsigned)d[14] << 8 | d[15], d + 16, n - 16, src);
    case DLT_EN10MB:
        if (n < 14) return 0;
        *ingress = g->cap_ifindex;
        /* with direction inout the frames this interface sends are seen
         * too: they carry its address */
        *sent = !g->cfg.capture_in_only && g->cap_has_mac && memcmp(d + 6, g->cap_mac, 6) == 0;
        return ether_source((unsigned)d[12] << 8 | d[13], d + 14, n - 14, src);
    default:
        /* raw IP and the like: the direction only with direction in */
        *ingress = g->cfg.capture_in_only ? g->cap_ifindex : 0;
        if (g->linktype == DLT_RAW || g->linktype == LINKTYPE_RAW) return ip_source(d, n, src);
        *ingress = 0; /* other link headers are not read here */
        return 0;
    }
}

/* 1: analyse the packet from src that arrived on ingress; 0: it fails the
 * reverse-path check (counted, and said at most every RP_LOG_US). */
static int reverse_path_ok(gate *g, const sn_addr *src, int ingress) {
    if (!g->cfg.reverse_path) return 1;
    /* no source (DHCP, IPv6 duplicate address detection): on-link
     * housekeeping, nothing for the analyzer, not worth a count */
    static const uint8_t zero[16];
    if (memcmp(src->b, zero, 16) == 0) return 0;
    int ok = gate_sides_reverse_ok(g->rp, src, ingress);
    if (ok < 0) {
        if (!g->rp_unreadable_said)
            fprintf(stderr,
                    "msngate: warning: the routing table cannot be read: packets are analysed without the "
                    "reverse-path check\n");
        g->rp_unreadable_said = 1;
        return 1;
    }
    if (ok) return 1;
    g->st.reverse_path_drops++;
    uint64_t now = mono_us();
    if (!g->rp_said_us || now - g->rp_said_us >= RP_LOG_US) {
        char a[SN_ADDR_STRLEN], in[IF_NAMESIZE] = "?";
        if_indextoname((unsigned)ingress, in);
        fprintf(stderr,
                "msngate: not analysed: %llu packet(s) whose source does not route back out of the interface they "
                "arrived on (forged, or dropped by the kernel), e.g. from %s on %s\n",
                (unsigned long long)(g->st.reverse_path_drops - g->rp_said_n), sn_addr_str(src, a), in);
        g->rp_said_us = now;
        g->rp_said_n = g->st.reverse_path_drops;
    }
    return 0;
}

/* Whether a captured frame is analysed; sets the adapter's ingress. */
static int frame_admitted(gate *g, const u_char *d, size_t n) {
    sn_addr src;
    int ingress, sent;
    int found = frame_source(g, d, n, &src, &ingress, &sent);
    g->adapter.ingress = 0;
    if (sent || !ingress) return 1;
    /* arrived by a known interface: only what can be checked is analysed */
    if (!found) return !g->cfg.reverse_path;
    if (!reverse_path_ok(g, &src, ingress)) return 0;
    g->adapter.ingress = ingress;
    return 1;
}

/* ---- passive ---------------------------------------------------------- */

/* libpcap on the interface in immediate mode: each packet is handed over
 * as soon as the kernel has it, not when a buffer fills (blocks, TPACKET_V3,
 * are handed over a timer tick after their first packet at the soonest: too
 * late for a pinhole). With direction "in" only packets entering the
 * interface are seen: on "any" each packet crossing the gateway is analysed
 * once, when it arrives, before it is forwarded.
 *
 * In immediate mode the kernel's ring has one fixed slot per packet, sized
 * by the snapshot length: with 65535 a slot took 128 KiB and the buffer held
 * a few hundred packets, so a burst while msngate was busy overflowed it and
 * the invitations in it opened nothing. The slots are now CAPTURE_SNAPLEN
 * (two to a page; an MTU-sized packet fits). A larger packet (GRO or TSO
 * aggregates, jumbo frames) fills its slot truncated, and the kernel also
 * queues it whole on the socket (PACKET_COPY_THRESH); read_copy() takes it
 * from there, so MSN messages in it are not lost. */
#define CAPTURE_SNAPLEN 1900

static pcap_t *open_capture(const gate_config *c, char *err, size_t errcap) {
    char perr[PCAP_ERRBUF_SIZE] = "";
    /* libpcap's netfilter devices are not packet sockets: what a log group
     * or a queue brings is for msnsniff, or for the inline mode's own queue */
    if (sn_capture_netfilter_device(c->interface)) {
        snprintf(err, errcap,
                 "%s: passive mode captures on a network interface, not on a netfilter log group or queue "
                 "(--mode inline takes its packets from an NFQUEUE queue of its own; msnsniff -i %s analyses "
                 "what the group brings)",
                 c->interface, c->interface);
        return NULL;
    }
    pcap_t *p = pcap_create(c->interface, perr);
    if (!p) {
        snprintf(err, errcap, "%s: %s", c->interface, perr);
        return NULL;
    }
    pcap_set_snaplen(p, CAPTURE_SNAPLEN);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, (int)c->capture_buf_mb << 20);
    pcap_set_timeout(p, 200);
    int rc = pcap_activate(p);
    if (rc < 0) {
        snprintf(err, errcap, "%s: %s%s", c->interface, rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc),
                 rc == PCAP_ERROR_PERM_DENIED ? " (capturing needs CAP_NET_RAW)" : "");
        pcap_close(p);
        return NULL;
    }
    /* On "any", the cooked header version 2 names the interface each packet
     * arrived on (version 1 does not): the reverse-path check needs it. */
    if (strcmp(c->interface, "any") == 0) pcap_set_datalink(p, DLT_LINUX_SLL2);
    /* Full copies of packets larger than a slot, queued on the socket up to
     * its receive buffer (the capture buffer's size again, charged only by
     * such packets); beyond, a large packet is counted as truncated. */
    int one = 1, rcvbuf = (int)c->capture_buf_mb << 20;
    if (setsockopt(pcap_fileno(p), SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof one) != 0) {
        snprintf(err, errcap, "%s: PACKET_COPY_THRESH: %s", c->interface, strerror(errno));
        pcap_close(p);
        return NULL;
    }
    if (setsockopt(pcap_fileno(p), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(pcap_fileno(p), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (c->capture_in_only && pcap_setdirection(p, PCAP_D_IN) != 0) {
        snprintf(err, errcap, "%s: direction in: %s", c->interface, pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    /* libpcap skips outgoing packets after the kernel queued them: the
     * copies of large ones would be left before the copies wanted. The
     * kernel is told not to deliver them at all. */
    if (c->capture_in_only && setsockopt(pcap_fileno(p), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
        snprintf(err, errcap, "%s: direction in: PACKET_IGNORE_OUTGOING: %s (Linux 4.20 or later)", c->interface,
                 strerror(errno));
        pcap_close(p);
        return NULL;
    }
    if (c->filter[0]) {
        struct bpf_program prog;
        if (pcap_compile(p, &prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(p, &prog) != 0) {
            snprintf(err, errcap, "filter \"%s\": %s", c->filter, pcap_geterr(p));
            pcap_close(p);
            return NULL;
        }
        pcap_freecode(&prog);
    }
    return p;
}

/* The full copy of a packet libpcap handed over truncated (larger than a
 * ring slot), from the socket's queue. The kernel queues the copies in the
 * order of their slots, but not every truncated slot has one (the receive
 * buffer was full), so the first copy is only taken when it is this
 * packet's: the length matches once the link header libpcap puts in front
 * of the slot is counted (16 or 20 bytes of a cooked "any" header, whose
 * copy starts at the network header; 4 of a VLAN tag libpcap re-inserts),
 * and the captured bytes after the first 16 of the copy are the same.
 * Returns the copy (valid until the next call; its link type in *lt, its
 * length in *len), or NULL. */
static const u_char *read_copy(gate *g, const struct pcap_pkthdr *h, const u_char *data, int *lt, size_t *len) {
    static u_char buf[262144];
    ssize_t n = recv(g->cap_fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
    /* an Ethernet copy is as long as the packet (delta 0 below) */
    if (n <= 0 || (size_t)n > sizeof buf || (size_t)n > h->len) return NULL;
    size_t delta = h->len - (size_t)n;
    int cooked = g->linktype == DLT_LINUX_SLL || g->linktype == DLT_LINUX_SLL2;
    if (cooked ? delta != (g->linktype == DLT_LINUX_SLL ? 16u : 20u) : delta != 0 && delta != 4) return NULL;
    if (h->caplen <= delta + 16 || memcmp(data + delta + 16, buf + 16, h->caplen - delta - 16) != 0) return NULL;
    /* the copy is already in buf: dequeue it without copying it again */
    if (recv(g->cap_fd, buf, 0, MSG_DONTWAIT | MSG_TRUNC) != n) return NULL;
    *lt = cooked ? LINKTYPE_RAW : g->linktype;
    *len = (size_t)n;
    return buf;
}

/* Copies nobody took: their slots were skipped by libpcap (an outgoing
 * packet with direction in, say). Left queued they would keep the
 * descriptor readable with no packet to read. Called when the ring is
 * empty; a copy's slot becomes readable just after the copy is queued, so
 * the ring is looked at once more first. */
static int drop_stale_copies(gate *g) {
    char b;
    if (recv(g->cap_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0) return 0;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
    return 1;
}

/* Packets the capture lost: the kernel's drops (the ring was full while
 * msngate was busy or descheduled) and large packets that came without
 * their copy. Any of them may have carried an invitation whose pinhole is
 * then never made: said in the log, with what to change. */
static void check_capture_loss(gate *g) {
    struct pcap_stat ps;
    if (!g->cap || pcap_stats(g->cap, &ps) != 0) return;
    g->st.capture_drops = (uint64_t)ps.ps_drop + ps.ps_ifdrop;
    uint64_t lost = g->st.capture_drops + g->st.capture_truncated;
    if (lost == g->cap_lost_said) return;
    fprintf(stderr,
            "msngate: capture on %s lost %llu packets (%llu in all: %llu dropped by the kernel, the capture buffer "
            "full; %llu larger than %d bytes without their full copy): invitations they carried opened no "
            "pinhole; check the load of this host (--realtime, a --filter) and capture_buffer_mb (now %u)\n",
            g->cfg.interface, (unsigned long long)(lost - g->cap_lost_said), (unsigned long long)lost,
            (unsigned long long)g->st.capture_drops, (unsigned long long)g->st.capture_truncated, CAPTURE_SNAPLEN,
            g->cfg.capture_buf_mb);
    g->cap_lost_said = lost;
}

/* The capture, opened before anything is put into the kernel: a start
 * that cannot capture changes nothing there. 0, or the exit status. */
static int open_passive(gate *g) {
    char err[1024];
    if (!g->cfg.interface[0]) {
        fprintf(stderr, "msngate: passive mode needs an interface (-i IFACE)\n");
        return 64;
    }
    pcap_t *cap = open_capture(&g->cfg, err, sizeof err);
    if (!cap) {
        fprintf(stderr, "msngate: %s\n", err);
        return 1;
    }
    int lt = pcap_datalink(cap);
    if (!sn_decode_linktype_ok(lt)) {
        fprintf(stderr, "msngate: %s: link type %d is not supported\n", g->cfg.interface, lt);
        pcap_close(cap);
        return 1;
    }
    /* In immediate mode libpcap waits for the next packet however long that
     * takes (the read timeout is not applied), so the loop waits itself,
     * like the inline one: signals (SIGUSR1, SIGHUP) and expiry are handled
     * within 200 ms on an idle interface too. */
    int fd = -1;
    err[0] = '\0';
    if (pcap_setnonblock(cap, 1, err) != 0 || (fd = pcap_get_selectable_fd(cap)) < 0) {
        fprintf(stderr, "msngate: %s: cannot wait for packets: %s\n", g->cfg.interface,
                err[0] ? err : "no selectable descriptor");
        pcap_close(cap);
        return 1;
    }
    g->cap = cap;
    g->cap_fd = fd;
    g->linktype = lt;
    if (strcmp(g->cfg.interface, "any") != 0) {
        g->cap_ifindex = (int)if_nametoindex(g->cfg.interface);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        size_t nl = strlen(g->cfg.interface);
        memcpy(ifr.ifr_name, g->cfg.interface, nl < IFNAMSIZ - 1 ? nl : IFNAMSIZ - 1);
        /* Asked on the capture's own packet socket: the unit allows no
         * AF_INET socket (RestrictAddressFamilies=), and without the address
         * the reverse-path check would be off. */
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
            memcpy(g->cap_mac, ifr.ifr_hwaddr.sa_data, 6);
            g->cap_has_mac = 1;
        }
    }
    int checked = lt == DLT_LINUX_SLL2 ||
        (g->cap_ifindex &&
         (lt == DLT_EN10MB ? g->cap_has_mac || g->cfg.capture_in_only
                           : g->cfg.capture_in_only && (lt == DLT_RAW || lt == LINKTYPE_RAW)));
    if (!checked && g->cfg.reverse_path)
        fprintf(stderr,
                "msngate: warning: %s (link type %d, direction %s): the interface each packet arrived on is not "
                "known, packets are analysed without the reverse-path check (see docs/msngate.md)\n",
                g->cfg.interface, lt, g->cfg.capture_in_only ? "in" : "inout");
    return 0;
}

static int run_passive(gate *g) {
    pcap_t *cap = g->cap;
    int fd = g->cap_fd, lt = g->linktype;
    active_pcap = cap;
    fprintf(stderr, "msngate: passive mode on %s (link type %d, direction %s), table inet %s\n", g->cfg.interface, lt,
            g->cfg.capture_in_only ? "in" : "in+out", g->cfg.table);
    int status = 0;
    while (!sig_stop) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc = pcap_next_ex(cap, &h, &data);
        if (rc == 0 && drop_stale_copies(g)) {
            rc = pcap_next_ex(cap, &h, &data);
            if (rc == 0) {
                char b;
                while (recv(fd, &b, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
                }
            }
        }
        if (rc == 0) { /* nothing captured: wait for a packet, a signal or the next tick */
            struct pollfd pfd = {fd, POLLIN, 0};
            poll(&pfd, 1, 200);
        } else if (rc == 1) {
            int admitted = frame_admitted(g, data, h->caplen);
            /* pcap's timestamp is when the kernel saw the packet */
            uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
            g->adapter.arrival_us = ts;
            int plt = lt;
            size_t caplen = h->caplen, len = h->len;
            if (caplen < len) { /* larger than its slot: the whole packet is its copy */
                const u_char *whole = read_copy(g, h, data, &plt, &caplen);
                if (whole) {
                    g->st.capture_copies++;
                    data = whole;
                    len = caplen;
                } else {
                    g->st.capture_truncated++;
                }
            }
            if (admitted) {
                g->st.packets++;
                sn_engine_packet(g->eng, plt, ts, data, caplen, len);
                pinholes_commit(g->holes, 1);
            }
        } else if (rc == PCAP_ERROR) {
            fprintf(stderr, "msngate: capture on %s: %s\n", g->cfg.interface, pcap_geterr(cap));
            status = 1;
            break;
        }
        tick(g);
    }
    active_pcap = NULL;
    check_capture_loss(g); /* the last status line counts them too */
    pcap_close(cap);
    g->cap = NULL;
    return status;
}

/* ---- inline ----------------------------------------------------------- */

static int on_queued(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
    (void)msg;
    gate *g = data;
    uint64_t t0 = real_us();
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    uint32_t id = ph ? ntohl(ph->packet_id) : 0;
    unsigned char *payload = NULL;
    int len = nfq_get_payload(nfa, &payload);
    g->st.queued++;
    /* the packet's kernel timestamp when it has one (set when the packet
     * arrived, if anything on the host asked for receive timestamps) */
    struct timeval tv;
    uint64_t arrival = t0;
    if (nfq_get_timestamp(nfa, &tv) == 0 && tv.tv_sec > 0) {
        uint64_t ts = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
        if (ts <= t0 && t0 - ts < 10000000u) arrival = ts;
    }
    /* the interface it came in by (0: the gateway's own packet) */
    int ingress = (int)nfq_get_indev(nfa);
    sn_addr src;
    if (len > 0 && ingress > 0 && (!ip_source(payload, (size_t)len, &src) || !reverse_path_ok(g, &src, ingress)))
        len = 0; /* passes (the firewall decides), not analysed */
    g->adapter.ingress = ingress;
    if (len > 0) {
        g->st.packets++;
        g->adapter.arrival_us = arrival;
        sn_engine_packet(g->eng, LINKTYPE_RAW, t0, payload, (size_t)len, (size_t)len);
    }
    /* the pinholes this packet announces are in the kernel before it goes on */
    pinholes_commit(g->holes, 0);
    nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    g->st.verdicts++;
    uint64_t t1 = real_us();
    gate_stats_latency(g->st.qlat, &g->st.qlat_n, &g->st.qlat_max_us, t1 - t0);
    /* deletes after the verdict: a hit packet has passed the filter now */
    pinholes_commit(g->holes, 1);
    return 0;
}

/* CAP_NET_ADMIN in the effective set (capget): 1, 0, or 1 when it cannot
 * be told. */
static int has_net_admin(void) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0) return 1;
    return (data[CAP_NET_ADMIN / 32].effective >> (CAP_NET_ADMIN % 32)) & 1u;
}

static int open_queue(gate *g) {
    g->nfq = nfq_open();
    if (!g->nfq) {
        fprintf(stderr, "msngate: nfnetlink queue: %s\n", strerror(errno));
        return -1;
    }
    g->qh = nfq_create_queue(g->nfq, (uint16_t)g->cfg.queue_num, on_queued, g);
    if (!g->qh) {
        /* the kernel answers EPERM both without CAP_NET_ADMIN and for a
         * queue another process has bound: the capability tells them apart
         * (root may run without it: a container, capsh --drop) */
        int e = errno;
        fprintf(stderr, "msngate: cannot bind NFQUEUE %u: %s%s\n", g->cfg.queue_num, strerror(e),
                e == EPERM && !has_net_admin() ? " (needs CAP_NET_ADMIN)"
                    : e == EBUSY || e == EPERM ? " (another program holds it: another msngate, or choose --queue-num)"
                                               : "");
        return -1;
    }
    if (nfq_set_mode(g->qh, NFQNL_COPY_PACKET, 0xffff) < 0) {
        fprintf(stderr, "msngate: NFQUEUE copy mode: %s\n", strerror(errno));
        return -1;
    }
    nfq_set_queue_maxlen(g->qh, 4096);
    if (g->cfg.queue_bypass) /* a full queue lets packets pass instead of dropping them */
        nfq_set_queue_flags(g->qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
    /* a large receive buffer rides out bursts; overflow is counted */
    int sz = 8 << 20;
    setsockopt(nfq_fd(g->nfq), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz);
    return 0;
}

/* Answers what the queue holds now: at most 64 packets a call (bounded, so
 * the loop keeps its timers). */
static void read_queued(gate *g) {
    static char buf[0x10000 + 4096];
    int fd = nfq_fd(g->nfq);
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS) {
                g->st.recv_enobufs++; /* packets were lost; with --queue-bypass... they were dropped */
                continue;
            }
            break;
        }
        nfq_handle_packet(g->nfq, buf, (int)n);
    }
}

static int run_inline(gate *g) {
    char err[2048];
    if (ruleset_install_queue(&g->ro, &g->qkind, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: installing the queue hook failed: %s\n", err);
        return 1;
    }
    g->hook_installed = 1;
    fprintf(stderr, "msngate: inline mode, queue %u (%s, %s), table inet %s\n", g->cfg.queue_num,
            queue_kind_name(g->qkind), g->cfg.queue_bypass ? "fail-open: --queue-bypass" : "fail-closed", g->cfg.table);
    int fd = nfq_fd(g->nfq);
    while (!sig_stop) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 200) > 0) read_queued(g);
        tick(g);
    }
    return 0;
}

/* After the hook is gone. libnetfilter_queue frees a queue's handle only
 * when the kernel acknowledges its unbind, and a packet queued while we
 * stopped, read where the acknowledgement was awaited, fails it: what is
 * still queued is answered first, and the unbind tried again (bounded). */
static void close_queue(gate *g) {
    for (int attempt = 0; g->qh && attempt < 4; attempt++) {
        read_queued(g);
        if (nfq_destroy_queue(g->qh) == 0) g->qh = NULL;
    }
    if (g->qh) fprintf(stderr, "msngate: NFQUEUE %u: the kernel did not acknowledge the unbind\n", g->cfg.queue_num);
    if (g->nfq) nfq_close(g->nfq);
    g->qh = NULL;
    g->nfq = NULL;
}

/* The capture or the queue, when the run stops before its loop. */
static void close_source(gate *g) {
    if (g->cap) pcap_close(g->cap);
    g->cap = NULL;
    if (g->nfq) close_queue(g);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv) {
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"interface", required_argument, NULL, 'i'},
                                             {"filter", required_argument, NULL, 'F'},
                                             {"table", required_argument, NULL, 't'},
                                             {"queue-num", required_argument, NULL, 'q'},
                                             {"queue-bypass", no_argument, NULL, 'B'},
                                             {"fail-closed", no_argument, NULL, 'C'},
                                             {"control-ports", required_argument, NULL, 'p'},
                                             {"expect-timeout", required_argument, NULL, 'T'},
                                             {"forged", required_argument, NULL, 'f'},
                                             {"nat", required_argument, NULL, 'n'},
                                             {"reverse-path", required_argument, NULL, 'P'},
                                             {"max-pinholes", required_argument, NULL, 'M'},
                                             {"stats-interval", required_argument, NULL, 's'},
                                             {"stats-file", required_argument, NULL, 'S'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"realtime", no_argument, NULL, 'R'},
                                             {"direction", required_argument, NULL, 'D'},
                                             {"hit-grace", required_argument, NULL, 'G'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    static gate g;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:i:vh", longopts, NULL)) != -1) {
        const char *key = NULL, *val = optarg;
        switch (opt) {
        case 'c': g.config_path = optarg; continue;
        case 'h': usage(stdout); return 0;
        case 'V': printf("msngate %s (libmsnp %s)\n", MSNKIT_VERSION, msnp_version_string()); return 0;
        case 'm': key = "mode"; break;
        case 'i': key = "interface"; break;
        case 'F': key = "filter"; break;
        case 't': key = "table"; break;
        case 'q': key = "queue_num"; break;
        case 'B':
            key = "queue_bypass";
            val = "yes";
            break;
        case 'C':
            key = "queue_bypass";
            val = "no";
            break;
        case 'p': key = "control_ports"; break;
        case 'T': key = "expect_timeout"; break;
        case 'D': key = "direction"; break;
        case 'R':
            key = "realtime";
            val = "yes";
            break;
        case 'G': key = "hit_grace"; break;
        case 'f': key = "forged"; break;
        case 'n': key = "nat"; break;
        case 'P': key = "reverse_path"; break;
        case 'M': key = "max_pinholes"; break;
        case 's': key = "stats_interval"; break;
        case 'S': key = "stats_file"; break;
        case 'v':
            key = "verbose";
            val = "yes";
            break;
        default: usage(stderr); return 64;
        }
        if (g.nov == MAX_OVERRIDES) {
            fprintf(stderr, "msngate: too many options\n");
            return 64;
        }
        g.ov[g.nov].key = key;
        g.ov[g.nov].value = val;
        g.nov++;
    }
    if (optind < argc) {
        fprintf(stderr, "msngate: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 64;
    }
    char err[2048];
    if (load_config(&g, &g.cfg, err, sizeof err) != 0 || check_config(&g.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: %s\n", err);
        return 78;
    }
    gate_config *c = &g.cfg;
    g.ro.table = c->table;
    g.ro.queue_num = c->queue_num;
    g.ro.queue_bypass = c->queue_bypass;
    g.ro.control_ports = c->control_ports;
    g.ro.ncontrol_ports = c->ncontrol_ports;
    g.ro.mark_control = c->mark_control;
    g.ro.mark_secondary = c->mark_secondary;
    g.ro.iptables = c->iptables;
    g.ro.ip6tables = c->ip6tables;

    warn_settings(c);
    /* What packets come from, first: a start that cannot have them (no
     * interface, a queue another msngate holds) leaves the kernel's table,
     * sets and hooks as they are, a running instance's included. */
    int opened = c->mode == GATE_INLINE ? (open_queue(&g) == 0 ? 0 : 1) : open_passive(&g);
    if (opened != 0) {
        close_source(&g);
        return opened;
    }
    if (take_table(c->table, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: %s\n", err);
        close_source(&g);
        return 1;
    }
    /* Restart safety: the sets start empty (what a crashed run opened
     * is gone; it would have timed out anyway). */
    if (ruleset_setup_sets(&g.ro, err, sizeof err) != 0) {
        fprintf(stderr, "msngate: setting up table inet %s: %s\n", c->table, err);
        close_source(&g);
        return 1;
    }
    g.table_handle = ruleset_table_handle(&g.ro);
    /* Hooks a run that did not stop cleanly left, whatever its mode and
     * queue: with --fail-closed they would hold the MSN traffic for good */
    char left[512];
    if (ruleset_remove_left(&g.ro, c->mode == GATE_INLINE, left, sizeof left) > 0)
        fprintf(stderr, "msngate: removed the queue hook an earlier run left (%s)\n", left);
    g.set = nftset_open(NFPROTO_INET, c->table, err, sizeof err);
    if (!g.set) {
        fprintf(stderr, "msngate: %s\n", err);
        close_source(&g);
        return 1;
    }
    g.holes = pinholes_new(g.set, &g.st, c);
    g.rp = gate_sides_new();
    sn_config scfg;
    sn_config_defaults(&scfg);
    scfg.memcap = c->memcap;
    scfg.expect_timeout_us = (uint64_t)c->expect_timeout_s * 1000000u;
    scfg.flow_limit = 256 * 1024;
    /* every prediction is reported, flagged; the forged / nat settings decide */
    scfg.announce_policy = SN_ANNOUNCE_ANY;
    g.eng = g.holes && g.rp ? sn_engine_new(&scfg) : NULL;
    g.adapter.holes = g.holes;
    g.adapter.st = &g.st;
    if (!g.eng || gate_adapter_attach(&g.adapter, g.eng) != 0) {
        fprintf(stderr, "msngate: out of memory\n");
        close_source(&g);
        return 1;
    }
    pinholes_on_missing_sets(g.holes, recreate_sets, &g);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (c->realtime) {
        struct sched_param sp = {.sched_priority = 10};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
            fprintf(stderr, "msngate: realtime: %s (continuing without)\n", strerror(errno));
    }
    g.st.started_us = real_us();
    g.last_stats = g.last_expire = mono_us();

    int status = c->mode == GATE_INLINE ? run_inline(&g) : run_passive(&g);

    /* clean exit: no hook, no pinholes left behind */
    if (c->mode == GATE_INLINE) {
        if (g.hook_installed) ruleset_remove_queue(&g.ro);
        close_queue(&g);
    }
    int flushed = ruleset_flush_sets(&g.ro, err, sizeof err);
    if (flushed > 0) fprintf(stderr, "msngate: table inet %s was gone already: no sets to empty\n", c->table);
    else if (flushed < 0) fprintf(stderr, "msngate: emptying the sets: %s\n", err);
    if (c->mode == GATE_INLINE) read_queue_drops(&g);
    report(&g);
    fprintf(stderr, "msngate: stopped\n");
    sn_engine_free(g.eng);
    pinholes_free(g.holes);
    gate_sides_free(g.rp);
    nftset_close(g.set);
    release_table();
    return status;
}
