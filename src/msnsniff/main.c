/* msnsniff - passive MSN Messenger analyzer.
 *
 * Reads packets (file or interface), follows MSNP and MSNFTP through the
 * engine, and writes events: JSON lines (default), a chat transcript, or
 * nftables commands for the predicted connections. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msnp/msnp.h>

#include "capture.h"
#include "decode.h"
#include "engine.h"
#include "nftout.h"
#include "outq.h"

static volatile sig_atomic_t stop_requested;
static sn_capture *active_capture;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
    if (active_capture) sn_capture_break(active_capture);
}

static volatile sig_atomic_t reopen_requested;

static void on_hangup(int sig) {
    (void)sig;
    reopen_requested = 1;
}

/* SIGHUP with -o FILE, as log rotation sends it: FILE is opened again
 * (made anew when it was moved away, appended to when not) and takes the
 * place of the open one under the same descriptor, so that the writer
 * thread goes on writing without a pause. What was handed over before
 * lands in one file or the other; nothing is lost. */
static void reopen_output(const char *path, FILE *out, sn_outq *q) {
    if (!path) {
        fprintf(stderr, "msnsniff: SIGHUP: events go to standard output; there is no file to reopen\n");
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "msnsniff: SIGHUP: cannot open %s again (%s); events go on to the file already open\n", path,
                strerror(errno));
        return;
    }
    sn_outq_flush(q);
    fflush(out);
    if (dup2(fd, fileno(out)) < 0)
        fprintf(stderr, "msnsniff: SIGHUP: cannot switch to the new %s (%s); events go on to the file already open\n",
                path, strerror(errno));
    else fprintf(stderr, "msnsniff: SIGHUP: events go on in %s, opened again\n", path);
    close(fd);
}

/* -o with --append: the file keeps what earlier runs wrote (a service
 * restarted after a failure must not wipe the events it had). A run
 * killed in the middle of a write leaves a cut line at the end: the next
 * event starts on a line of its own, so only that line is lost. */
static FILE *open_append(const char *path) {
    FILE *f = fopen(path, "a+"); /* read too: its last byte */
    if (!f) return NULL;
    struct stat sb;
    char last = '\n';
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        pread(fileno(f), &last, 1, sb.st_size - 1) == 1 && last != '\n') {
        fprintf(stderr,
                "msnsniff: %s did not end with a whole line (a run stopped while writing): the next event "
                "starts on a new line\n",
                path);
        /* on the descriptor, not through stdio: the events go to the
         * descriptor from the writer thread, and a byte left in the
         * stream's buffer would follow them */
        if (write(fileno(f), "\n", 1) != 1) {
            int eno = errno;
            fclose(f);
            errno = eno;
            return NULL;
        }
    }
    return f;
}

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: msnsniff [options] -r FILE | -i IFACE [--] [filter expression...]\n"
            "       msnsniff -D\n"
            "  -r, --read FILE     read a pcap or pcapng file (\"-\" = standard input), also compressed\n"
            "                      (gzip, xz, zstd, bzip2); again for the next file of the same capture\n"
            "                      (rotated files: read as one, in order)\n"
            "  -i, --interface IFACE  capture live from an interface (nflog:N: a firewall's log group)\n"
            "  -D, --list-interfaces  list the interfaces -i can capture on\n"
            "  -p, --no-promiscuous-mode  do not put the interface in promiscuous mode\n"
            "  -I, --monitor-mode  put a Wi-Fi interface in monitor mode (every frame on its channel)\n"
            "  -B, --buffer-size KIB  the kernel buffer for -i, in KiB as tcpdump's -B, or with K, M or G\n"
            "                      (default 64M; 1M to 1G)\n"
            "  -c, --count COUNT   stop after COUNT packets (those the filter lets through)\n"
            "  -w, --write FILE    also write the packets read to FILE (pcap; \"-\" = standard output)\n"
            "  -o, --output FILE   write JSON events to FILE instead of standard output\n"
            "  --append            -o adds to FILE instead of replacing it (a service that restarts)\n"
            "  -Z, --relinquish-privileges USER  after opening the capture, run as USER (and its groups)\n"
            "  --run-id HEX        64-bit run id in the flows' uid (default: random)\n"
            "  --transcript        print readable chat transcripts instead of JSON\n"
            "  --nft               print nftables commands for the predicted connections\n"
            "  --nft-table NAME    nftables table name: letters, digits and _ (default msnsniff)\n"
            "  -U, --packet-buffered  write events out after every packet (default with -i)\n"
            "  --announced-policy nat|strict|any  which announced addresses become pinholes (default nat)\n"
            "  --max-expectations N  predictions held at once, at least 1 (default 65536)\n"
            "  --max-expect-user N / --max-expect-session N  outstanding per user (128) / session (32); 0 = no bound\n"
            "  --extract DIR       carve files sent over MSNFTP into DIR\n"
            "  --memcap SIZE       memory budget for reassembly and flows (default 512M, 0 = no budget)\n"
            "  --flow-memcap SIZE  reassembly bytes per flow direction (default 1M)\n"
            "  --max-flows N       flows tracked at once (default and 0: memcap bound)\n"
            "  --flow-timeout SEC  evict flows idle this long (default 900, 0 = never)\n"
            "  --expect-timeout SEC  predicted connections expire after this (default 300)\n"
            "  --no-defrag         report IPv4 and IPv6 fragments instead of reassembling them\n"
            "  --all-flows         flow events for non-MSN flows too\n"
            "  --anomaly-limit N   anomaly events per kind before only counting (default 100, 0 = all)\n"
            "  --threads 1|2       2 (default): JSON events are formatted on the writer thread, off the analysis\n"
            "  -q, --quiet         no summary at the end\n"
            "  --summary           print the summary on standard output instead of standard error\n"
            "  --progress / --no-progress   progress on standard error (default: when it is a terminal)\n"
            "  -h, --help          this text;  --version  version\n");
}

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    if (!isdigit((unsigned char)s[0])) return -1; /* strtoull takes " 5" and "-1" (as 2^64 - 1) */
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    uint64_t mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k':
    case 'K':
        mul = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024ull * 1024 * 1024;
        end++;
        break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end || (v && mul > UINT64_MAX / v)) return -1;
    *out = v * mul;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum {
    OPT_TRANSCRIPT = 256,
    OPT_NFT,
    OPT_NFT_TABLE,
    OPT_EXTRACT,
    OPT_MEMCAP,
    OPT_FLOW_MEMCAP,
    OPT_MAX_FLOWS,
    OPT_FLOW_TIMEOUT,
    OPT_EXPECT_TIMEOUT,
    OPT_NO_DEFRAG,
    OPT_ALL_FLOWS,
    OPT_SUMMARY,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_VERSION,
    OPT_ANOMALY_LIMIT,
    OPT_ANNOUNCED_POLICY,
    OPT_MAX_EXPECT,
    OPT_MAX_EXPECT_USER,
    OPT_MAX_EXPECT_SESSION,
    OPT_RUN_ID,
    OPT_THREADS,
    OPT_APPEND
};

/* Timeouts in seconds; kept in microseconds, so bounded well below 2^64 / 10^6. */
#define MAX_SECONDS 4294967295ull
static int is_seconds(int opt) { return opt == OPT_FLOW_TIMEOUT || opt == OPT_EXPECT_TIMEOUT; }

/* The long name of option val, for messages. */
static const char *long_name(const struct option *o, int val) {
    for (; o->name; o++)
        if (o->val == val) return o->name;
    return "?";
}

/* -w used to name the JSON output: a name that says JSON gets a pointer to
 * -o rather than a capture file where events were expected. */
static int json_name(const char *path) {
    size_t n = strlen(path);
    return (n >= 5 && strcmp(path + n - 5, ".json") == 0) || (n >= 6 && strcmp(path + n - 6, ".jsonl") == 0);
}

static int valid_nft_table(const char *s) {
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    size_t n = strlen(s);
    return n > 0 && n <= 63 && strspn(s, ok) == n && !isdigit((unsigned char)s[0]);
}

/* -Z: become USER (its uid, primary group and supplementary groups) for
 * good. Only root can; anyone may name themselves. */
static int drop_privileges(const char *user, char *err, size_t errcap) {
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errcap, "-Z %s: no such user", user);
        return -1;
    }
    if (geteuid() != 0) {
        if (pw->pw_uid == geteuid()) return 0;
        snprintf(err, errcap, "-Z %s: only root can change user", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        snprintf(err, errcap, "-Z %s: %s", user, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errcap, "-Z %s: root could be regained", user);
        return -1;
    }
    return 0;
}

/* An output file (-o, -w) that could not be created: with -Z the reason
 * is most likely that USER may not write there, which the bare "Permission
 * denied" does not tell. what: libpcap's or strerror's message. */
static void say_cannot_create(const char *run_as, const char *path, const char *what, int eno) {
    if (run_as && (eno == EACCES || eno == EPERM || eno == EROFS))
        fprintf(stderr,
                "msnsniff: %s: %s: the file is created as user %s (-Z drops privileges before it is opened): let %s "
                "write there, or choose another place\n",
                path, what, run_as, run_as);
    else fprintf(stderr, "msnsniff: %s: %s\n", path, what);
}

/* The final record of a JSON run: what was read and what the kernel
 * dropped (ks: live captures; NULL for files, whose fields are null). */
static void emit_stats(sn_engine *eng, sn_capture *cap, const sn_capture_stats *ks, int linktype, uint64_t ts_us,
                       size_t nfiles) {
    sn_events *evs = sn_engine_events(eng);
    uint64_t emitted = evs->emitted;
    sn_ev *ev = sn_ev_new(evs, "stats", ts_us);
    if (!ev) return;
    char buf[64];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)sn_engine_run_id(eng));
    sn_ev_set_str(ev, "run", buf);
    sn_ev_set_str(ev, "source", sn_capture_is_live(cap) ? "interface" : "file");
    sn_ev_set_str(ev, "link_type", sn_capture_linktype_name(linktype, 0, buf, sizeof buf));
    if (nfiles > 1) sn_ev_set_int(ev, "files", nfiles); /* read as one capture */
    const sn_stats *st = sn_engine_stats(eng);
    sn_ev_set_int(ev, "packets", st->packets);
    sn_ev_set_int(ev, "bytes", st->bytes);
    sn_ev_set_int(ev, "flows", st->flows);
    sn_ev_set_int(ev, "packets_not_admitted", st->packets_not_admitted);
    sn_ev_set_int(ev, "packets_truncated", st->packets_truncated);
    sn_ev_set_int(ev, "events", emitted);
    if (ks) {
        sn_ev_set_int(ev, "kernel_received", ks->received);
        sn_ev_set_int(ev, "kernel_dropped", ks->dropped);
        sn_ev_set_int(ev, "interface_dropped", ks->if_dropped);
        if (ks->lost_known) sn_ev_set_int(ev, "kernel_lost", ks->lost);
        else sn_ev_set_null(ev, "kernel_lost");
    } else {
        sn_ev_set_null(ev, "kernel_received");
        sn_ev_set_null(ev, "kernel_dropped");
        sn_ev_set_null(ev, "interface_dropped");
        sn_ev_set_null(ev, "kernel_lost");
    }
    sn_ev_emit(evs, ev);
}

/* A failed write (disk full) is said when it happens, not only when the
 * run ends: a live capture runs for days. Events that cannot be written
 * end the run, which would go on for nothing (1 is returned); packets
 * that cannot be written (-w) are said once, and the events go on. */
static int output_failed(sn_outq *q, const char *events, sn_capture *cap, const char *packets, int *said) {
    int e = sn_capture_dump_error(cap);
    if (e && !(*said & 2)) {
        *said |= 2;
        fprintf(stderr,
                "msnsniff: %s: writing packets failed: %s; no more packets are written to it (the analysis goes "
                "on)\n",
                packets, strerror(e));
    }
    e = sn_outq_error(q);
    if (!e || (*said & 1)) return 0;
    *said |= 1;
    fprintf(stderr, "msnsniff: %s: writing events failed: %s; stopping: no event can be written\n", events,
            strerror(e));
    return 1;
}

/* The transcript or the nft script, printed on standard output by its
 * sink, which keeps its first failed write (text_err): as events, lines
 * that cannot be written end the run (1 is returned). */
static int text_failed(int text_err, const char *text, int *said) {
    if (!text_err || (*said & 4)) return 0;
    *said |= 4;
    fprintf(stderr, "msnsniff: standard output: writing the %s failed: %s; stopping: nothing more can be written\n",
            text, strerror(text_err));
    return 1;
}

/* A file as messages name it: standard input as the capture's own
 * messages do. */
static const char *file_name(const char *path) { return strcmp(path, "-") == 0 ? "(stdin)" : path; }

/* Several files: each is there to be read before any is, so that a
 * mistyped name stops the run before it has written anything; standard
 * input can be one of them once. */
static int check_files(const char **files, size_t n, const char *run_as) {
    size_t stdin_uses = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(files[i], "-") == 0) {
            if (++stdin_uses > 1) {
                fprintf(stderr, "msnsniff: -r -: standard input can be read once\n");
                return -1;
            }
            continue;
        }
        struct stat sb;
        if (stat(files[i], &sb) != 0 || access(files[i], R_OK) != 0) {
            int eno = errno;
            if (run_as && (eno == EACCES || eno == EPERM))
                fprintf(stderr,
                        "msnsniff: %s: %s: the files after the first are read as user %s (-Z drops privileges "
                        "before they are opened): let %s read it\n",
                        files[i], strerror(eno), run_as, run_as);
            else fprintf(stderr, "msnsniff: %s: %s\n", files[i], strerror(eno));
            return -1;
        }
        if (S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "msnsniff: %s: is a directory\n", files[i]);
            return -1;
        }
    }
    return 0;
}

/* Whether path is standard output: "-", or a name for the file or pipe
 * descriptor 1 is (/dev/stdout, /proc/self/fd/1), devices left out
 * (/dev/null takes both outputs). */
static int names_stdout(const char *path) {
    if (strcmp(path, "-") == 0) return 1;
    struct stat p, o;
    return stat(path, &p) == 0 && !S_ISCHR(p.st_mode) && fstat(STDOUT_FILENO, &o) == 0 && p.st_dev == o.st_dev &&
        p.st_ino == o.st_ino;
}

/* For a file still to be created: whether a and b name it in one
 * directory (./x and x, dir/x and dir/../dir/x), by the directory's inode
 * and the last component. */
static int same_new_name(const char *a, const char *b) {
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    const char *na = sa ? sa + 1 : a, *nb = sb ? sb + 1 : b;
    if (!*na || strcmp(na, nb) != 0) return 0;
    char da[PATH_MAX], db[PATH_MAX];
    snprintf(da, sizeof da, "%.*s", sa ? (int)(sa - a) + 1 : 1, sa ? a : ".");
    snprintf(db, sizeof db, "%.*s", sb ? (int)(sb - b) + 1 : 1, sb ? b : ".");
    struct stat x, y;
    return stat(da, &x) == 0 && stat(db, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Whether a and b are one file: the same inode, or the same name for a
 * file still to be created. Standard input and output ("-") and devices
 * (/dev/null for both) are never the same. */
static int same_file(const char *a, const char *b) {
    if (strcmp(a, "-") == 0 || strcmp(b, "-") == 0) return 0;
    struct stat sa, sb;
    if (stat(a, &sa) != 0) return strcmp(a, b) == 0 || same_new_name(a, b);
    return S_ISREG(sa.st_mode) && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* -o or -w naming a file read with -r (a slip on the command line) made
 * it anew, empty, before it was read: the capture was lost and the run
 * ended with status 0. -o and -w naming one file mixed events into the
 * packets. Both are refused before anything is opened. */
static int outputs_clash(const char **files, size_t n, const char *events, const char *packets) {
    for (size_t i = 0; i < n; i++) {
        const char *opt = events && same_file(files[i], events) ? "-o"
            : packets && same_file(files[i], packets)           ? "-w"
                                                                : NULL;
        if (opt) {
            fprintf(stderr,
                    "msnsniff: %s %s: that is the capture read with -r, which writing would destroy; "
                    "write to another file\n",
                    opt, opt[1] == 'o' ? events : packets);
            return -1;
        }
    }
    if (events && packets && same_file(events, packets)) {
        fprintf(stderr, "msnsniff: -o %s and -w %s are one file: events and packets go to two files\n", events,
                packets);
        return -1;
    }
    return 0;
}

/* The next of several files, with the filter and the dump file of the one
 * before; NULL when it cannot be read (said on standard error). */
static sn_capture *open_next(const char *path, sn_capture *prev, const char *filter, int progress, int more) {
    char err[1024];
    sn_capture *c = sn_capture_open_file(path, err, sizeof err);
    if (c && filter[0] && sn_capture_set_filter(c, filter, err, sizeof err) != 0) {
        sn_capture_close(c);
        c = NULL;
    }
    if (!c) {
        fprintf(stderr, "%smsnsniff: %s%s\n", progress ? "\n" : "", err, more ? "; going on with the next file" : "");
        return NULL;
    }
    sn_capture_dump_pass(prev, c);
    return c;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {{"read", required_argument, NULL, 'r'},
                                             {"interface", required_argument, NULL, 'i'},
                                             {"write", required_argument, NULL, 'w'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"count", required_argument, NULL, 'c'},
                                             {"list-interfaces", no_argument, NULL, 'D'},
                                             {"no-promiscuous-mode", no_argument, NULL, 'p'},
                                             {"monitor-mode", no_argument, NULL, 'I'},
                                             {"buffer-size", required_argument, NULL, 'B'},
                                             {"relinquish-privileges", required_argument, NULL, 'Z'},
                                             {"run-id", required_argument, NULL, OPT_RUN_ID},
                                             {"transcript", no_argument, NULL, OPT_TRANSCRIPT},
                                             {"nft", no_argument, NULL, OPT_NFT},
                                             {"nft-table", required_argument, NULL, OPT_NFT_TABLE},
                                             {"extract", required_argument, NULL, OPT_EXTRACT},
                                             {"memcap", required_argument, NULL, OPT_MEMCAP},
                                             {"flow-memcap", required_argument, NULL, OPT_FLOW_MEMCAP},
                                             {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
                                             {"flow-timeout", required_argument, NULL, OPT_FLOW_TIMEOUT},
                                             {"expect-timeout", required_argument, NULL, OPT_EXPECT_TIMEOUT},
                                             {"no-defrag", no_argument, NULL, OPT_NO_DEFRAG},
                                             {"all-flows", no_argument, NULL, OPT_ALL_FLOWS},
                                             {"anomaly-limit", required_argument, NULL, OPT_ANOMALY_LIMIT},
                                             {"packet-buffered", no_argument, NULL, 'U'},
                                             {"announced-policy", required_argument, NULL, OPT_ANNOUNCED_POLICY},
                                             {"max-expectations", required_argument, NULL, OPT_MAX_EXPECT},
                                             {"max-expect-user", required_argument, NULL, OPT_MAX_EXPECT_USER},
                                             {"max-expect-session", required_argument, NULL, OPT_MAX_EXPECT_SESSION},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"summary", no_argument, NULL, OPT_SUMMARY},
                                             {"progress", no_argument, NULL, OPT_PROGRESS},
                                             {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, OPT_VERSION},
                                             {"threads", required_argument, NULL, OPT_THREADS},
                                             {"append", no_argument, NULL, OPT_APPEND},
                                             {NULL, 0, NULL, 0}};
    sn_config cfg;
    sn_config_defaults(&cfg);
    const char *rfile = NULL, *iface = NULL, *wfile = NULL, *nft_table = "msnsniff";
    /* -r more than once: the files are read one after the other as one
     * capture (a capture rotated into several files), in the order given */
    static const char **rfiles; /* reachable to the end: early returns need not free it */
    size_t nfiles = 0;
    rfiles = calloc((size_t)argc, sizeof *rfiles);
    if (!rfiles) {
        fprintf(stderr, "msnsniff: out of memory\n");
        return 1;
    }
    const char *pcap_out = NULL, *run_as = NULL;
    int transcript = 0, nft = 0, quiet = 0, summary_stdout = 0, progress = -1, packet_buffered = 0;
    int promisc = 1, monitor = 0, list_ifaces = 0, threads = 2, append = 0;
    size_t buffer_bytes = SN_CAPTURE_BUFFER;
    uint64_t count = 0;
    int opt;
    uint64_t v;
    char *end;
    /* Options may follow the filter words; "--" ends the options, for a
     * filter with a word that starts with '-'. */
    while ((opt = getopt_long(argc, argv, "r:i:w:o:c:DpIB:Z:qhU", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r': rfiles[nfiles++] = optarg; break;
        case 'i': iface = optarg; break;
        case 'w':
            if (json_name(optarg)) {
                fprintf(stderr,
                        "msnsniff: -w %s: -w writes packets (pcap), like tcpdump's; "
                        "JSON events go to standard output or to -o FILE\n",
                        optarg);
                return 2;
            }
            pcap_out = optarg;
            break;
        case 'o':
            /* "-" is standard output, as for -r and -w (it made a file named "-") */
            wfile = strcmp(optarg, "-") == 0 ? NULL : optarg;
            break;
        case 'D': list_ifaces = 1; break;
        case 'B': {
            /* a plain number is KiB, as tcpdump's -B */
            uint64_t b;
            int plain = optarg[0] && isdigit((unsigned char)optarg[strlen(optarg) - 1]);
            if (parse_size(optarg, &b) != 0 || (plain && b > SN_CAPTURE_BUFFER_MAX / 1024) ||
                (plain ? b * 1024 : b) < SN_CAPTURE_BUFFER_MIN || (plain ? b * 1024 : b) > SN_CAPTURE_BUFFER_MAX) {
                fprintf(stderr,
                        "msnsniff: -B %s: the buffer size is in KiB (as tcpdump's -B) or with K, M or G, from 1M to "
                        "1G; for example -B 131072 or -B 128M\n",
                        optarg);
                return 2;
            }
            buffer_bytes = (size_t)(plain ? b * 1024 : b);
            break;
        }
        case 'p': promisc = 0; break;
        case 'I': monitor = 1; break;
        case 'Z': run_as = optarg; break;
        case 'c':
            errno = 0;
            count = strtoull(optarg, &end, 10);
            /* a digit first: strtoull takes " -1" as 2^64 - 1 (no count at all) */
            if (errno || end == optarg || *end || count == 0 || !isdigit((unsigned char)optarg[0])) {
                fprintf(stderr, "msnsniff: -c: \"%s\" is not a packet count above 0\n", optarg);
                return 2;
            }
            break;
        case OPT_RUN_ID:
            errno = 0;
            cfg.run_id = strtoull(optarg, &end, 16);
            if (errno || end == optarg || *end || cfg.run_id == 0 || !isxdigit((unsigned char)optarg[0])) {
                fprintf(stderr, "msnsniff: --run-id: \"%s\" is not a non-zero 64-bit hex number\n", optarg);
                return 2;
            }
            break;
        case OPT_THREADS:
            if (strcmp(optarg, "1") == 0) threads = 1;
            else if (strcmp(optarg, "2") == 0) threads = 2;
            else {
                fprintf(stderr, "msnsniff: --threads: \"%s\" is not 1 or 2\n", optarg);
                return 2;
            }
            break;
        case 'q': quiet = 1; break;
        case OPT_APPEND: append = 1; break;
        case 'U': packet_buffered = 1; break;
        case OPT_ANNOUNCED_POLICY:
            if (strcmp(optarg, "nat") == 0) cfg.announce_policy = SN_ANNOUNCE_NAT;
            else if (strcmp(optarg, "strict") == 0) cfg.announce_policy = SN_ANNOUNCE_STRICT;
            else if (strcmp(optarg, "any") == 0) cfg.announce_policy = SN_ANNOUNCE_ANY;
            else {
                fprintf(stderr, "msnsniff: --announced-policy: \"%s\" is not nat, strict or any\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("msnsniff %s (libmsnp %s)\n", MSNKIT_VERSION, msnp_version_string()); return 0;
        case OPT_TRANSCRIPT: transcript = 1; break;
        case OPT_NFT: nft = 1; break;
        case OPT_NFT_TABLE:
            /* It is written into the nft script as an identifier: a space
             * or a ';' would end the command and start another. The rule is
             * msngate's for its table, with nft's own: a number is not a
             * name, so the first character is not a digit. */
            if (!valid_nft_table(optarg)) {
                fprintf(stderr,
                        "msnsniff: --nft-table: \"%s\" is not an nftables table name (1 to 63 letters, digits "
                        "and _, not starting with a digit)\n",
                        optarg);
                return 2;
            }
            nft_table = optarg;
            break;
        case OPT_EXTRACT: cfg.extract_dir = optarg; break;
        case OPT_NO_DEFRAG: cfg.defrag = 0; break;
        case OPT_ALL_FLOWS: cfg.all_flows = 1; break;
        case OPT_SUMMARY: summary_stdout = 1; break;
        case OPT_PROGRESS: progress = 1; break;
        case OPT_NO_PROGRESS: progress = 0; break;
        case OPT_MEMCAP:
        case OPT_FLOW_MEMCAP:
        case OPT_MAX_FLOWS:
        case OPT_FLOW_TIMEOUT:
        case OPT_EXPECT_TIMEOUT:
        case OPT_ANOMALY_LIMIT:
        case OPT_MAX_EXPECT:
        case OPT_MAX_EXPECT_USER:
        case OPT_MAX_EXPECT_SESSION:
            if (parse_size(optarg, &v) != 0 || (is_seconds(opt) && v > MAX_SECONDS) ||
                (opt == OPT_ANOMALY_LIMIT && v > UINT_MAX)) {
                fprintf(stderr, "msnsniff: --%s: \"%s\" is not %s\n", long_name(longopts, opt), optarg,
                        is_seconds(opt)                ? "a number of seconds (at most 4294967295)"
                            : opt == OPT_ANOMALY_LIMIT ? "a count (at most 4294967295)"
                            : opt == OPT_MEMCAP || opt == OPT_FLOW_MEMCAP
                            ? "a size (a number, with K, M or G for units)"
                            : "a count");
                return 2;
            }
            /* The expectation table is always bounded (0 gave the default
             * of 65536 in silence); 0 is "no bound" for --memcap and
             * --max-flows and "never" for --flow-timeout, as documented. */
            if (opt == OPT_MAX_EXPECT && v == 0) {
                fprintf(stderr, "msnsniff: --max-expectations: \"%s\" is not a count above 0\n", optarg);
                return 2;
            }
            /* Nor are these 0: a prediction would expire as it is made (no
             * connection ever matched one), a flow's reassembly buffer
             * would be the default 1M in silence. */
            if ((opt == OPT_EXPECT_TIMEOUT || opt == OPT_FLOW_MEMCAP) && v == 0) {
                fprintf(stderr, "msnsniff: --%s: \"%s\" is not %s above 0\n", long_name(longopts, opt), optarg,
                        opt == OPT_EXPECT_TIMEOUT ? "a number of seconds" : "a size");
                return 2;
            }
            if (opt == OPT_MEMCAP) cfg.memcap = v;
            else if (opt == OPT_FLOW_MEMCAP) cfg.flow_limit = (size_t)v;
            else if (opt == OPT_MAX_FLOWS) cfg.max_flows = (size_t)v;
            else if (opt == OPT_FLOW_TIMEOUT) cfg.flow_timeout_us = v * 1000000u;
            else if (opt == OPT_EXPECT_TIMEOUT) cfg.expect_timeout_us = v * 1000000u;
            else if (opt == OPT_MAX_EXPECT) cfg.max_expectations = (size_t)v;
            else if (opt == OPT_MAX_EXPECT_USER) cfg.max_expect_per_user = (size_t)v;
            else if (opt == OPT_MAX_EXPECT_SESSION) cfg.max_expect_per_session = (size_t)v;
            else cfg.anomaly_limit = (unsigned)v;
            break;
        default: usage(stderr); return 2;
        }
    }
    rfile = nfiles ? rfiles[0] : NULL; /* the first file: the link type, -w's header */
    if (list_ifaces) {
        char lerr[512];
        if (sn_capture_list_interfaces(stdout, lerr, sizeof lerr) != 0) {
            fprintf(stderr, "msnsniff: %s\n", lerr);
            return 1;
        }
        return 0;
    }
    if ((!rfile) == (!iface)) {
        fprintf(stderr, "msnsniff: give exactly one of -r FILE or -i IFACE\n");
        usage(stderr);
        return 2;
    }
    if (transcript && nft) {
        fprintf(stderr, "msnsniff: --transcript and --nft are exclusive\n");
        return 2;
    }
    if (nfiles > 1 && check_files(rfiles, nfiles, NULL) != 0) return 1;
    if (outputs_clash(rfiles, nfiles, wfile, pcap_out) != 0) return 2;
    if (cfg.extract_dir) {
        struct stat sb;
        if (stat(cfg.extract_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "msnsniff: --extract %s: %s\n", cfg.extract_dir,
                    access(cfg.extract_dir, F_OK) != 0 ? strerror(errno) : "not a directory");
            return 2;
        }
    }
    /* the filter is the rest of the command line, like tcpdump, of any
     * length (a list of hosts passed 4 KiB) */
    size_t need = 1;
    for (int i = optind; i < argc; i++) need += strlen(argv[i]) + 1;
    static char *filter; /* reachable to the end, as rfiles */
    if (!(filter = malloc(need))) {
        fprintf(stderr, "msnsniff: out of memory\n");
        return 1;
    }
    size_t fl = 0;
    filter[0] = '\0';
    for (int i = optind; i < argc; i++) fl += (size_t)snprintf(filter + fl, need - fl, "%s%s", fl ? " " : "", argv[i]);

    char err[1024];
    sn_capture *cap = rfile ? sn_capture_open_file(rfile, err, sizeof err)
                            : sn_capture_open_live(iface, promisc, monitor, buffer_bytes, err, sizeof err);
    if (!cap) {
        fprintf(stderr, "msnsniff: %s\n", err);
        return 1;
    }
    if (fl && sn_capture_set_filter(cap, filter, err, sizeof err) != 0) {
        fprintf(stderr, "msnsniff: %s\n", err);
        sn_capture_close(cap);
        return 2;
    }
    int linktype = sn_capture_linktype(cap);
    char ltname[128];
    sn_capture_linktype_name(linktype, 1, ltname, sizeof ltname);
    /* Root is needed to open an interface, not to write what it gives:
     * output files are created as the -Z user. */
    if (run_as && drop_privileges(run_as, err, sizeof err) != 0) {
        fprintf(stderr, "msnsniff: %s\n", err);
        sn_capture_close(cap);
        return 1;
    }
    /* the files after the first are opened as USER: checked as root, one
     * USER may not read ended the run after the events of those before */
    if (run_as && nfiles > 1 && check_files(rfiles + 1, nfiles - 1, run_as) != 0) {
        sn_capture_close(cap);
        return 1;
    }
    /* Files are carved as the user the run goes on as: a directory it may
     * not write made every file an extract anomaly, and the run ended
     * with status 0 having carved none. */
    if (cfg.extract_dir && access(cfg.extract_dir, W_OK | X_OK) != 0) {
        int eno = errno;
        if (run_as && (eno == EACCES || eno == EPERM))
            fprintf(stderr,
                    "msnsniff: --extract %s: %s: the files are created as user %s (-Z drops privileges before "
                    "any is): let %s write there, or choose another place\n",
                    cfg.extract_dir, strerror(eno), run_as, run_as);
        else fprintf(stderr, "msnsniff: --extract %s: %s\n", cfg.extract_dir, strerror(eno));
        sn_capture_close(cap);
        return 2;
    }
    /* -o moves the JSON events only: a transcript, an nft script or the
     * --summary is always printed on standard output, and would be mixed
     * into the pcap records there. */
    if (pcap_out && names_stdout(pcap_out) && (transcript || nft || (summary_stdout && !quiet))) {
        fprintf(stderr, "msnsniff: -w %s puts packets on standard output, where %s prints: write them to a file\n",
                pcap_out,
                transcript ? "--transcript"
                    : nft  ? "--nft"
                           : "--summary");
        sn_capture_close(cap);
        return 2;
    }
    if (pcap_out && names_stdout(pcap_out) && (!wfile || names_stdout(wfile))) {
        fprintf(stderr, "msnsniff: -w %s puts packets on standard output: send the events to a file with -o FILE\n",
                pcap_out);
        sn_capture_close(cap);
        return 2;
    }
    if (pcap_out && sn_capture_dump_open(cap, pcap_out, nfiles > 1 ? SN_CAPTURE_MAX_CAPLEN : 0, err, sizeof err) != 0) {
        int eno = errno;
        size_t n = strlen(pcap_out);
        /* err is "PATH: why" */
        if (strncmp(err, pcap_out, n) == 0 && err[n] == ':' && err[n + 1] == ' ')
            say_cannot_create(run_as, pcap_out, err + n + 2, eno);
        else fprintf(stderr, "msnsniff: %s\n", err);
        sn_capture_close(cap);
        return 1;
    }
    if (append && !wfile) {
        fprintf(stderr, "msnsniff: --append: events go to standard output; give the file with -o FILE\n");
        sn_capture_close(cap);
        return 2;
    }
    FILE *out = stdout;
    if (wfile && !(out = append ? open_append(wfile) : fopen(wfile, "w"))) {
        int eno = errno;
        say_cannot_create(run_as, wfile, strerror(eno), eno);
        sn_capture_close(cap);
        return 1;
    }
    /* Reading a file, events come by the hundred thousand: they go out in
     * 1 MiB writes from a writer thread (outq.h), or from stdio with a
     * buffer of that size when the thread cannot be had. Live (-i, or
     * -U): everything a packet caused is handed to the writer right after
     * the packet, so events show up as they happen. */
    int live_output = iface || packet_buffered;
    static char outbuf[1u << 20];
    if (rfile && !packet_buffered) setvbuf(out, outbuf, _IOFBF, sizeof outbuf);
    sn_outq *outq = NULL;
    sn_engine *eng = sn_engine_new(&cfg);
    if (!eng) {
        fprintf(stderr, "msnsniff: out of memory\n");
        return 1;
    }
    sn_transcript_sink ts = {.fp = stdout};
    sn_json_sink js = {out, NULL, live_output};
    /* the clock: an element for a name answered later gets what is left
     * of its prediction's timeout, not all of it */
    sn_nft_out ns = {
        .fp = stdout, .family = "inet", .table = nft_table, .clock = sn_engine_clock(eng), .flush_each = live_output};
    if (transcript) {
        sn_events_add_sink(sn_engine_events(eng), sn_sink_transcript, &ts);
        sn_observer o = sn_transcript_observer(&ts);
        sn_engine_observe(eng, &o);
    } else if (nft) {
        sn_observer o = sn_nft_observer(&ns);
        sn_engine_observe(eng, &o);
    }
    if ((!transcript && !nft) || wfile) {
        /* Reading a file into JSON alone, the events are formatted on the
         * writer thread: the analysis hands over field records */
        int formatted = threads > 1 && !live_output && sn_engine_events(eng)->n == 0; /* no sink reads fields */
        js.q = outq = formatted ? sn_outq_new_formatted(fileno(out), sn_ev_format_records) : sn_outq_new(fileno(out));
        if (outq && formatted) sn_engine_events(eng)->records = 1;
        sn_events_add_line_sink(sn_engine_events(eng), sn_sink_json, &js);
    }

    if (progress < 0) progress = isatty(STDERR_FILENO) && rfile;
    active_capture = cap;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* hanging up (log rotation, a closed terminal) neither stops the run
     * nor loses the events still buffered */
    sa.sa_handler = on_hangup;
    sigaction(SIGHUP, &sa, NULL);
    /* Over a file size limit (-w, --extract) the write fails and is
     * reported, as on a full disk, instead of the kernel killing us. */
    signal(SIGXFSZ, SIG_IGN);

    int status = 0;
    /* the link type of the packets: the capture's, or in a pcapng file of
     * several interfaces each one's; each unsupported one is said once */
    int cur_lt = -1; /* none yet: the first packet's is checked as a change */
    int warned_lt[8], nwarned = 0;
    double last = now_s();
    uint64_t n = 0, frames = 0;
    sn_frame fr;
    if (iface)
        fprintf(stderr, "msnsniff: listening on %s%s, link type %s\n", iface, promisc ? "" : " (not promiscuous)",
                ltname);
    /* bounded after a stop: the kernel buffer holds a finite number of packets */
    int draining = 0;
    size_t fi = 0; /* rfiles[fi] is being read */
    int new_file = 0;
    uint64_t last_ts = 0;
    size_t last_fi = 0; /* the file of the packet last_ts is of: files without packets are passed over */
    int write_said = 0; /* output_failed: 1 events, 2 packets; text_failed: 4 */
    int no_text_err = 0;
    int *text_err = transcript ? &ts.err : nft ? &ns.err : &no_text_err;
    const char *text = transcript ? "transcript" : "nftables script";
    uint64_t checked = 0;
    /* what the loop does after a packet besides the check of the outputs */
    int per_packet = live_output || packet_buffered || count || progress;
    const char *events_name = wfile ? wfile : "standard output";
    const char *dump_name = pcap_out && strcmp(pcap_out, "-") == 0 ? "standard output" : pcap_out;
    for (;;) {
        if (reopen_requested) {
            reopen_requested = 0;
            reopen_output(wfile, out, outq);
        }
        if (stop_requested && !draining) {
            if (!sn_capture_is_live(cap)) break;
            sn_capture_drain(cap); /* keep what was captured before the signal */
            draining = 1;
        }
        int rc = sn_capture_next(cap, &fr, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "%smsnsniff: %s\n", progress ? "\n" : "", err);
            status = 1;
            /* one damaged file of several loses its own tail only */
            if (fi + 1 >= nfiles) break;
            rc = 0;
        }
        if (rc == 0) {
            /* several files: the next one, as if it went on the last */
            sn_capture *next = NULL;
            while (!next && !stop_requested && fi + 1 < nfiles) {
                fi++;
                if (!(next = open_next(rfiles[fi], cap, filter, progress, fi + 1 < nfiles))) status = 1;
            }
            if (!next) break;
            new_file = 1;
            active_capture = next;
            sn_capture_close(cap);
            cap = next;
            continue;
        }
        if (rc == 2) {
            /* idle live capture: predictions still expire on time */
            if (live_output && sn_capture_is_live(cap)) {
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                sn_engine_tick(eng, (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u);
                sn_outq_flush(outq);
                sn_capture_dump_flush(cap); /* a quiet capture's last packets are not held back */
                if (output_failed(outq, events_name, cap, dump_name, &write_said) ||
                    text_failed(*text_err, text, &write_said)) {
                    status = 1;
                    break;
                }
            }
            continue;
        }
        if (new_file) {
            /* rotated files follow each other in time; files of the same
             * time (several interfaces) are to be merged, not appended */
            new_file = 0;
            if (fr.ts_us < last_ts) {
                char a[32], b[32];
                sn_format_ts(fr.ts_us, a);
                sn_format_ts(last_ts, b);
                fprintf(stderr,
                        "%smsnsniff: %s starts at %s, before the last packet of %s (%s): files are read in the "
                        "order given; captures of the same time are to be merged first (mergecap)\n",
                        progress ? "\n" : "", file_name(rfiles[fi]), a, file_name(rfiles[last_fi]), b);
            }
        }
        last_ts = fr.ts_us;
        last_fi = fi;
        if (fr.linktype != cur_lt) {
            cur_lt = fr.linktype;
            if (!sn_decode_linktype_ok(cur_lt)) {
                int seen = 0;
                for (int i = 0; i < nwarned; i++) seen |= warned_lt[i] == cur_lt;
                if (!seen && nwarned < (int)(sizeof warned_lt / sizeof warned_lt[0])) {
                    warned_lt[nwarned++] = cur_lt;
                    char name[128];
                    fprintf(stderr, "msnsniff: link type %s is not supported; packets are counted only\n",
                            cur_lt == linktype ? ltname : sn_capture_linktype_name(cur_lt, 1, name, sizeof name));
                }
            }
        }
        sn_engine_packet(eng, cur_lt, fr.ts_us, fr.data, fr.caplen, fr.wirelen);
        if (!per_packet) {
            /* a file read without a count or progress, as below in one test */
            if ((++checked & 4095u) == 0 &&
                (output_failed(outq, events_name, cap, dump_name, &write_said) ||
                 text_failed(*text_err, text, &write_said))) {
                status = 1;
                break;
            }
            continue;
        }
        if (live_output) sn_outq_flush(outq);
        /* -U is tcpdump's: the -w file (a pipe: -w -) gets each packet
         * at once, not 4 KiB at a time */
        if (packet_buffered) sn_capture_dump_flush(cap);
        /* live: at every packet; a file: now and then (the check locks) */
        if ((live_output || (++checked & 4095u) == 0) &&
            (output_failed(outq, events_name, cap, dump_name, &write_said) ||
             text_failed(*text_err, text, &write_said))) {
            status = 1;
            break;
        }
        if (count && ++frames >= count) {
            sn_capture_skip_rest(cap); /* live: what was buffered is not lost */
            break;
        }
        if (progress && (++n & 8191u) == 0) {
            double t = now_s();
            if (t - last >= 0.5) {
                last = t;
                const sn_stats *s = sn_engine_stats(eng);
                uint64_t size = sn_capture_size(cap);
                char nth[48] = "";
                if (nfiles > 1) snprintf(nth, sizeof nth, " (file %zu of %zu)", fi + 1, nfiles);
                if (size)
                    fprintf(stderr, "\r%llu packets, %.1f MB, %3.0f%%%s", (unsigned long long)s->packets,
                            (double)s->bytes / 1e6, 100.0 * (double)sn_capture_offset(cap) / (double)size, nth);
                else
                    fprintf(stderr, "\r%llu packets, %.1f MB%s", (unsigned long long)s->packets, (double)s->bytes / 1e6,
                            nth);
            }
        }
    }
    if (progress) fprintf(stderr, "\r\033[K");
    sn_engine_finish(eng);
    /* The stats close the run: dated with the engine's time, the latest it
     * saw (a capture clock may step back; the events before are dated so
     * too). Reading a file, that is all: the same file gives the same
     * output (all-zero time stamps give 1970). Live, the run ends now. */
    uint64_t end_ts = *sn_engine_clock(eng);
    if (sn_capture_is_live(cap)) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t wall = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
        if (wall > end_ts) end_ts = wall;
    }
    /* read once: the stats event, the stderr line and the summary give
     * the same figures */
    sn_capture_stats kst;
    int have_kst = sn_capture_stats_get(cap, &kst) == 0;
    emit_stats(eng, cap, have_kst ? &kst : NULL, linktype, end_ts, nfiles);
    if (have_kst && kst.dropped && !kst.lost_known)
        fprintf(stderr,
                "msnsniff: %s: %llu of the %llu packets captured were dropped by the kernel with its buffer full (-B "
                "makes it larger): the flows they belonged to show gaps\n",
                iface, (unsigned long long)kst.dropped, (unsigned long long)kst.received);
    else if (have_kst && (kst.dropped || kst.lost))
        fprintf(stderr,
                "msnsniff: %s: %llu of the %llu packets captured were not analysed (%llu dropped by the kernel with "
                "its buffer full: -B makes it larger; %llu counted by the kernel but never handed over): the "
                "flows they belonged to show gaps\n",
                iface, (unsigned long long)(kst.dropped + kst.lost), (unsigned long long)kst.received,
                (unsigned long long)kst.dropped, (unsigned long long)kst.lost);
    const sn_stats *fin = sn_engine_stats(eng);
    /* carved files are an output too: one not written whole is said, and
     * the run ends with status 1, as for -w */
    if (fin->files_not_carved) {
        fprintf(stderr, "msnsniff: --extract %s: files not carved whole: %llu (the extract anomalies say why)\n",
                cfg.extract_dir, (unsigned long long)fin->files_not_carved);
        status = 1;
    }
    if (fin->packets_truncated)
        fprintf(stderr,
                "msnsniff: %s: %llu of %llu packets were cut short by the capture's snapshot length (%llu bytes "
                "kept): their missing bytes are gaps in the analysis; capture whole packets (tcpdump -s 0)\n",
                nfiles > 1  ? "the capture files"
                    : rfile ? file_name(rfile)
                            : iface,
                (unsigned long long)fin->packets_truncated, (unsigned long long)fin->packets,
                (unsigned long long)fin->truncated_caplen);
    /* every event is out before the summary (which may go to stdout too) */
    int werr = sn_outq_close(outq);
    /* the script's last lines are still in stdio's buffer */
    if (nft && fflush(stdout) != 0 && !*text_err) *text_err = errno;
    if (text_failed(*text_err, text, &write_said)) status = 1;
    if (!quiet) {
        FILE *sf = summary_stdout ? stdout : stderr;
        sn_engine_summary(eng, sf);
        if (nfiles > 1) fprintf(sf, "  capture: %zu files, link type %s", nfiles, ltname);
        else fprintf(sf, "  capture: %s, link type %s", sn_capture_is_live(cap) ? "interface" : "file", ltname);
        if (have_kst) {
            fprintf(sf, "; kernel: %llu received, %llu dropped, %llu dropped by the interface",
                    (unsigned long long)kst.received, (unsigned long long)kst.dropped,
                    (unsigned long long)kst.if_dropped);
            if (kst.lost_known) fprintf(sf, ", %llu lost", (unsigned long long)kst.lost);
        }
        fputc('\n', sf);
        /* stdio drops what it could not write and says so only in the
         * stream's error flag: the summary on a full disk is said */
        if (summary_stdout && !werr && !(write_said & 5) && (fflush(sf) != 0 || ferror(sf))) {
            fprintf(stderr, "msnsniff: standard output: writing the summary failed: %s\n",
                    strerror(errno ? errno : EIO));
            write_said |= 4;
            status = 1;
        }
    }
    if (sn_capture_dump_skipped(cap))
        fprintf(stderr,
                "msnsniff: -w %s: %llu packets of interfaces of other link types than %s are not in it (a pcap file "
                "holds one link type)\n",
                pcap_out, (unsigned long long)sn_capture_dump_skipped(cap), ltname);
    if (sn_capture_dump_close(cap, err, sizeof err) != 0) {
        if (!(write_said & 2)) fprintf(stderr, "msnsniff: %s\n", err); /* said when it happened */
        status = 1;
    }
    sn_engine_free(eng);
    sn_nft_out_free(&ns);
    sn_capture_close(cap);
    free(rfiles);
    rfiles = NULL;
    free(filter);
    filter = NULL;
    if (fflush(out) != 0 || (out != stdout && fclose(out) != 0) || werr) {
        if (!(write_said & 5)) /* said when it happened */
            fprintf(stderr, "msnsniff: %s: writing events failed: %s\n", events_name, strerror(werr ? werr : errno));
        status = 1;
    }
    return status;
}
