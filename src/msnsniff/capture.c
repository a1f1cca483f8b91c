/* capture.c - libpcap input. */
#define _GNU_SOURCE /* fopencookie: standard input through a stream that knows its position */
#include "capture.h"

#include <pcap/pcap.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <spawn.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "nflog.h"
#include "pcapread.h"

/* stdio's default buffer is one file-system block (4 KiB): reading a
 * large capture would cost one read(2) per 4 KiB, which on a VM was a
 * quarter of the analyzer's time. */
#define FILE_BUFFER (1u << 20)

struct sn_capture {
    pcap_t *p;
    int draining;
    int drain_waited; /* the stop has waited for a block (see next_frame) */
    int format;       /* 0 pcap, 1 pcapng, -1 unknown (standard input) */
    char name[256];
    int live;
    int live_fd; /* -i: the descriptor the capture waits on (non-blocking pcap) */
    /* Live: packets handed over, and the kernel's counters when the count
     * starts (after the filter is set: what the kernel counted before may
     * be discarded by libpcap's filter) and when a stop begins (what it
     * counted by then is all in the buffer, to be read by the drain). */
    uint64_t live_read;
    struct pcap_stat base, at_stop;
    int have_base, have_at_stop;
    /* The kernel's count can be set against the packets read: not on a
     * loopback interface or "any", where the kernel hands over each
     * loopback packet twice (sent and received) and libpcap keeps one. */
    int countable;
    int64_t drain_deadline_ms; /* CLOCK_MONOTONIC */
    /* Applied to libpcap's seconds: UINT32_MAX for classic pcap files,
     * whose seconds field is unsigned 32-bit (captures from 2038 on)
     * though libpcap widens it as a signed one; all ones otherwise. */
    uint64_t sec_mask;
    uint64_t size;
    uint64_t offset;
    char *iobuf;             /* the FILE's buffer; freed after pcap_close closed it */
    struct stdin_stream *in; /* -r -: the stream's state; freed after pcap_close */
    /* Classic pcap and pcapng files are read by pcapread (libpcap opened
     * and checked the header, and compiles the filter, applied here). */
    int fast;
    /* fast, a classic file (not pcapng) in the host's byte order with
     * microseconds, no filter, no dump file and not broken: a record whole
     * in the chunk is a frame as it is (sn_capture_next). Cleared by
     * sn_capture_break, from a signal handler. */
    volatile sig_atomic_t plain;
    sn_pcapread rd;
    struct bpf_program prog;
    int has_prog;
    int linktype; /* the first interface's: prog's, and the dump file's */
    /* the filter again for the other link types of a pcapng file's
     * interfaces, compiled when their first packet comes */
    char *filter;
    struct {
        int linktype, ok;
        struct bpf_program prog;
    } other[8];
    int nother;
    uint64_t dump_skipped;
    volatile sig_atomic_t broken;
    /* a netfilter device (nflog:N, nfqueue:N): sn_capture_break leaves
     * libpcap's loop alone (below) */
    int netfilter;
    pcap_dumper_t *dump; /* -w: frames read are written here */
    char dump_name[256];
    int dump_errno;    /* errno of the first failed write, kept for the report */
    int dump_linktype; /* the dump file's: frames of another are counted, not written */
};

static void set_plain(sn_capture *c) {
    c->plain = c->fast && !c->rd.ng && c->rd.native && !c->has_prog && !c->dump && !c->broken;
    /* a signal's sn_capture_break between the read of broken and the
     * store would have its plain = 0 overwritten */
    if (c->broken) c->plain = 0;
}

/* How long a live capture waits for a packet before reporting that it is
 * idle (the engine is then ticked with the wall clock). */
#define LIVE_WAIT_MS 100

/* A live capture's kernel buffer is filled in blocks of packets laid end
 * to end (TPACKET_V3), and a block is handed over when it is full or this
 * long after its first packet: the most an event waits for its packet. */
#define LIVE_BLOCK_MS 10

/* The longest a stop waits for the packets the kernel still holds. */
#define DRAIN_MAX_MS (20 * LIVE_BLOCK_MS)

/* Packets the kernel put in the buffer between two readings of its
 * counters: received less dropped (libpcap's counters are 32-bit and
 * wrap). */
static uint64_t buffered_since(const struct pcap_stat *from, const struct pcap_stat *to) {
    uint32_t got = to->ps_recv - from->ps_recv, dropped = to->ps_drop - from->ps_drop;
    return got >= dropped ? got - dropped : 0;
}

#define MAX_CAPLEN SN_CAPTURE_MAX_CAPLEN

/* The 4-byte magic of a classic pcap file libpcap reads as version 2.4
 * records with 16-byte headers: 1 little-endian, 2 big-endian, 0 other.
 * *nsec is set for the nanosecond variant. */
static int classic_magic(const unsigned char m[4], int *nsec) {
    uint32_t le = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
    uint32_t be = (uint32_t)m[3] | (uint32_t)m[2] << 8 | (uint32_t)m[1] << 16 | (uint32_t)m[0] << 24;
    *nsec = le == 0xA1B23C4Du || be == 0xA1B23C4Du;
    if (le == 0xA1B2C3D4u || le == 0xA1B23C4Du) return 1;
    if (be == 0xA1B2C3D4u || be == 0xA1B23C4Du) return 2;
    return 0;
}

/* Standard input is opened by libpcap, which checks the file header, through
 * a stream that keeps the bytes it delivers: a pipe cannot be read again
 * from its start, and pcapread, which then reads the records or blocks as
 * it reads a file's, starts with them. When pcapread cannot take over,
 * libpcap reads on, and the stream counts the bytes instead: a pipe has
 * no file position to ask, and a damaged record must be named by its
 * offset as in a file. ftell() on it costs no system call. */
typedef struct stdin_stream {
    int fd;      /* standard input, or the pipe from a decompressor */
    pid_t child; /* the decompressor, 0 for standard input */
    const char *tool;
    uint64_t delivered;
    unsigned char magic[4];
    int keeping; /* while libpcap opens the file: kept holds every byte */
    int lost;    /* a byte could not be kept (out of memory) */
    unsigned char *kept;
    size_t kept_len, kept_cap;
} stdin_stream;

static void stdin_keep(stdin_stream *s, const char *buf, size_t n) {
    if (s->lost) return;
    if (s->kept_cap - s->kept_len < n) {
        size_t cap = s->kept_cap ? s->kept_cap : 65536;
        /* bounded: doubles until n fits; libpcap's open reads the header
         * and blocks of at most 16 MiB up to the first interface */
        while (cap - s->kept_len < n) cap *= 2;
        unsigned char *g = realloc(s->kept, cap);
        if (!g) {
            s->lost = 1;
            return;
        }
        s->kept = g;
        s->kept_cap = cap;
    }
    memcpy(s->kept + s->kept_len, buf, n);
    s->kept_len += n;
}

static ssize_t stdin_read(void *cookie, char *buf, size_t n) {
    stdin_stream *s = cookie;
    ssize_t got;
    do got = read(s->fd, buf, n);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return got;
    for (size_t i = 0; s->delivered + i < sizeof s->magic && i < (size_t)got; i++)
        s->magic[s->delivered + i] = (unsigned char)buf[i];
    s->delivered += (uint64_t)got;
    if (s->keeping) stdin_keep(s, buf, (size_t)got);
    return got;
}

/* The decompressor's end: 0 when it finished well (or there is none),
 * else its exit status (127: it could not be run), -1 for a signal. */
static int decompressor_status(stdin_stream *s) {
    if (!s || !s->child) return 0;
    if (s->child < 0) { /* posix_spawnp found no such program */
        s->child = 0;
        return 127;
    }
    int st;
    pid_t r;
    do r = waitpid(s->child, &st, 0);
    while (r < 0 && errno == EINTR);
    s->child = 0;
    if (r < 0) return 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void stdin_free(stdin_stream *s) {
    if (!s) return;
    if (s->fd != STDIN_FILENO) close(s->fd);
    /* stopped before the end (-c, a signal): the decompressor goes */
    if (s->child > 0) kill(s->child, SIGTERM);
    decompressor_status(s);
    free(s->kept);
    free(s);
}

/* A compressed file is read through its decompressor, run on it with its
 * output into a pipe, as standard input is read: rotated captures are
 * often compressed (tcpdump -z gzip, logrotate), and several of them
 * given to -r are one capture, which one pipe of their concatenation is
 * not. The program is found on PATH; the file's name is an argument, never
 * shell text. */
/* a string literal and its length without the terminating NUL (a magic
 * may hold NULs of its own) */
#define MAGIC(s) s, sizeof s - 1
static const struct {
    const char *magic;
    size_t len;
    const char *tool, *package;
    const char *hint; /* for a stream whose first bytes could not be looked at in time (format_hint) */
} compressors[] = {
    {MAGIC("\x1f\x8b"), "gzip", "gzip", "compressed with gzip: zcat FILE | msnsniff -r -"},
    {MAGIC("\xfd\x37\x7a\x58\x5a\x00"), "xz", "xz-utils", "compressed with xz: xzcat FILE | msnsniff -r -"},
    {MAGIC("\x28\xb5\x2f\xfd"), "zstd", "zstd", "compressed with zstd: zstdcat FILE | msnsniff -r -"},
    {MAGIC("BZh"), "bzip2", "bzip2", "compressed with bzip2: bzcat FILE | msnsniff -r -"},
};

static int compressor_of(const unsigned char *h, size_t n) {
    for (size_t i = 0; i < sizeof compressors / sizeof compressors[0]; i++)
        if (n >= compressors[i].len && memcmp(h, compressors[i].magic, compressors[i].len) == 0) return (int)i;
    return -1;
}

int sn_capture_is_compressed(const void *head, size_t n) { return compressor_of(head, n) >= 0; }

/* The first bytes a descriptor will give, without taking them: pread for
 * a file, tee(2) for a pipe (it waits for the writer's first bytes, as
 * the read after it would). Returns how many were seen (0: none, or a
 * descriptor of another kind). */
static size_t peek_fd(int fd, unsigned char *h, size_t cap) {
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    if (S_ISREG(st.st_mode)) {
        off_t at = lseek(fd, 0, SEEK_CUR);
        ssize_t n = at < 0 ? -1 : pread(fd, h, cap, at);
        return n > 0 ? (size_t)n : 0;
    }
    if (!S_ISFIFO(st.st_mode)) return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return 0;
    ssize_t n = tee(fd, p[1], cap, 0), got = 0;
    if (n > 0) got = read(p[0], h, (size_t)n);
    close(p[0]);
    close(p[1]);
    return got > 0 ? (size_t)got : 0;
}

/* path: the file the decompressor reads; or NULL, and in_fd: the
 * descriptor it reads (standard input, a named pipe). name: for messages. */
static stdin_stream *open_decompressor(const char *path, int in_fd, const char *name, int k, char *err, size_t errcap) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errcap, "%s: cannot read it through %s: %s", name, compressors[k].tool, strerror(errno));
        return NULL;
    }
    stdin_stream *s = calloc(1, sizeof *s);
    /* posix_spawn, not fork: later files are opened while the reader and
     * writer threads run. The child gets the pipe as its output, nothing
     * as its input, and SIGPIPE as default with no signal blocked, so
     * that msnsniff stopping early ends it. */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = s ? 0 : ENOMEM;
    int fa_ok = rc == 0 && posix_spawn_file_actions_init(&fa) == 0;
    int at_ok = fa_ok && posix_spawnattr_init(&at) == 0;
    if (!at_ok && rc == 0) rc = ENOMEM;
    if (rc == 0) {
        sigset_t none, dfl;
        sigemptyset(&none);
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        if (path) posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        else if (in_fd != STDIN_FILENO) posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        char *const argv[] = {(char *)compressors[k].tool, "-dc", path ? "--" : NULL, (char *)path, NULL};
        pid_t pid;
        rc = posix_spawnp(&pid, compressors[k].tool, &fa, &at, argv, environ);
        if (rc == 0) s->child = pid;
    }
    if (at_ok) posix_spawnattr_destroy(&at);
    if (fa_ok) posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc == ENOENT) rc = 0, s->child = -1; /* not installed: said as the child's 127 would be */
    if (rc != 0) {
        snprintf(err, errcap, "%s: cannot read it through %s: %s", name, compressors[k].tool, strerror(rc));
        close(pfd[0]);
        free(s);
        return NULL;
    }
    s->fd = pfd[0];
    s->tool = compressors[k].tool;
    return s;
}

/* Only ftell(): stdio subtracts what its buffer holds unread. */
static int stdin_tell(void *cookie, off64_t *off, int whence) {
    if (whence != SEEK_CUR || *off != 0) {
        errno = ESPIPE;
        return -1;
    }
    *off = (off64_t)((stdin_stream *)cookie)->delivered;
    return 0;
}

static FILE *open_stdin(stdin_stream *s) {
    cookie_io_functions_t io = {.read = stdin_read, .seek = stdin_tell};
    return fopencookie(s, "rb", io);
}

/* What a file libpcap did not take seems to be, from its first bytes, and
 * what to do with it; NULL when nothing is recognised. */
static const char *format_hint(const unsigned char *h, size_t n) {
    int k = compressor_of(h, n);
    if (k >= 0) return compressors[k].hint;
    static const struct {
        const char *magic;
        size_t len;
        const char *hint;
    } known[] = {
        {MAGIC("PK\x03\x04"), "a zip archive: unzip it first"},
        {MAGIC("GMBU"),
         "a Microsoft Network Monitor 2 capture: convert it with Wireshark's editcap, "
         "editcap -F pcapng FILE FILE.pcapng"},
        {MAGIC("RTSS"),
         "a Microsoft Network Monitor 1 capture: convert it with Wireshark's editcap, "
         "editcap -F pcapng FILE FILE.pcapng"},
        {MAGIC("snoop\0\0\0"),
         "a snoop capture (Solaris): convert it with Wireshark's editcap, "
         "editcap -F pcap FILE FILE.pcap"},
        {MAGIC("XCP\0"),
         "a NetXRay or Windows Sniffer capture: convert it with Wireshark's editcap, "
         "editcap -F pcapng FILE FILE.pcapng"},
        {MAGIC("{\"event\":"), "msnsniff's own events (JSON lines, -o), not a capture: -r reads pcap and pcapng files"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && memcmp(h, known[i].magic, known[i].len) == 0) return known[i].hint;
    size_t text = 0;
    for (size_t i = 0; i < n; i++)
        text += (h[i] >= 0x20 && h[i] < 0x7f) || h[i] == '\n' || h[i] == '\r' || h[i] == '\t';
    if (n >= 8 && text == n)
        return "text, not a capture: pcap and pcapng files (tcpdump -w, dumpcap, Wireshark) are binary";
    return NULL;
}

/* "NAME: not a pcap or pcapng file: HINT", FILE in the hint replaced by
 * path (quoted for the shell when it needs to be); standard input keeps
 * FILE. */
static void put_hint(char *err, size_t errcap, const char *name, const char *path, const char *hint) {
    int quote = 0;
    for (const char *q = path; q && *q; q++) quote |= !(isalnum((unsigned char)*q) || strchr("._/+-,:@%", *q));
    size_t at = (size_t)snprintf(err, errcap, "%s: not a pcap or pcapng file: ", name);
    for (const char *h = hint; *h && at + 1 < errcap;) { /* bounded by the hint's length */
        if (path && strncmp(h, "FILE", 4) == 0) {
            int w = snprintf(err + at, errcap - at, quote ? "'%s'" : "%s", path);
            at = w < 0 || (size_t)w >= errcap - at ? errcap - 1 : at + (size_t)w;
            h += 4;
        } else {
            err[at++] = *h++;
            err[at] = '\0';
        }
    }
}

sn_capture *sn_capture_open_file(const char *path, char *err, size_t errcap) {
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = NULL;
    char *iobuf = NULL;
    /* the first bytes tell pcap from pcapng, and whether pcapread can take over */
    unsigned char magic[4] = {0, 0, 0, 0};
    int have_magic = 0, nsec = 0, classic = 0;
    stdin_stream *in = NULL;
    /* and, for a file that is not a capture, what it is */
    unsigned char head[16];
    size_t head_len = 0;
    int is_stdin = strcmp(path, "-") == 0, zk = -1;
    const char *name = is_stdin ? "(stdin)" : path;
    /* A named pipe or a process substitution (-r <(ssh host tcpdump -w -))
     * is read once, as standard input: a look at its first bytes would
     * take them away. */
    struct stat st0;
    int have_st = is_stdin ? fstat(STDIN_FILENO, &st0) == 0 : stat(path, &st0) == 0;
    if (is_stdin && !have_st) { /* `-r - <&-`: read() fails, which would read as an empty input */
        snprintf(err, errcap, "%s: %s%s", name, strerror(errno),
                 errno == EBADF ? ": standard input is closed; give the capture on it, or with -r FILE" : "");
        return NULL;
    }
    int is_dir = have_st && S_ISDIR(st0.st_mode), is_pipe = have_st && !S_ISREG(st0.st_mode) && !is_dir;
    if (is_stdin && is_dir) { /* `-r - < dir`: read() fails, which would read as an empty input */
        snprintf(err, errcap, "%s: a directory, not a capture: give the capture file itself", name);
        return NULL;
    }
    if (!is_stdin && !is_pipe) {
        FILE *peek = fopen(path, "rb");
        if (peek) {
            head_len = fread(head, 1, sizeof head, peek);
            have_magic = head_len >= 4;
            memcpy(magic, head, have_magic ? 4 : 0);
            fclose(peek);
        }
        zk = compressor_of(head, head_len);
        classic = have_magic && zk < 0 ? classic_magic(magic, &nsec) : 0;
    }
    if (is_stdin || is_pipe || zk >= 0) {
        if (zk >= 0) {
            in = open_decompressor(path, -1, name, zk, err, errcap);
            if (!in) return NULL;
        } else {
            /* a stream: a compressed one goes through its decompressor,
             * which reads the stream itself (its first bytes are looked at
             * without taking them) */
            int sfd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
            if (sfd < 0) {
                snprintf(err, errcap, "%s: %s", path, strerror(errno));
                return NULL;
            }
            zk = compressor_of(head, peek_fd(sfd, head, sizeof head));
            if (zk >= 0) {
                in = open_decompressor(NULL, sfd, name, zk, err, errcap);
                if (sfd != STDIN_FILENO) close(sfd); /* the decompressor has its copy */
                if (!in) return NULL;
            } else if ((in = calloc(1, sizeof *in)) != NULL) {
                in->fd = sfd;
            } else if (sfd != STDIN_FILENO) {
                close(sfd);
            }
        }
        FILE *fp = in ? open_stdin(in) : NULL;
        if (!fp) {
            snprintf(err, errcap, "%s: %s", name, in ? strerror(errno) : "out of memory");
            stdin_free(in);
            return NULL;
        }
        in->keeping = 1;
        p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
        if (!p) {
            head_len = in->kept_len < sizeof head ? in->kept_len : sizeof head;
            if (head_len) memcpy(head, in->kept, head_len);
            fclose(fp);
            /* the decompressor's end, once its output is closed: the
             * status says whether it could run, and decompress */
            int st = 0;
            if (in->child) {
                close(in->fd);
                in->fd = -1;
                st = decompressor_status(in);
            }
            stdin_free(in);
            in = NULL;
            if (st == 127) {
                snprintf(err, errcap, "%s: compressed with %s, which could not be run: apt-get install %s", name,
                         compressors[zk].tool, compressors[zk].package);
                return NULL;
            }
            if (st != 0 && head_len == 0) {
                snprintf(err, errcap, "%s: %s could not decompress it (status %d; its message is above)", name,
                         compressors[zk].tool, st);
                return NULL;
            }
        } else {
            in->keeping = 0;
            /* libpcap has read the file header: its magic is known */
            memcpy(magic, in->magic, sizeof magic);
            have_magic = in->delivered >= sizeof magic;
            classic = have_magic ? classic_magic(magic, &nsec) : 0;
        }
    } else {
        FILE *fp = fopen(path, "rb");
        if (!fp) {
            snprintf(err, errcap, "%s: %s", path, strerror(errno));
            return NULL;
        }
        /* pcapread reads classic files itself; a pcapng file it may
         * leave to libpcap (a snapshot length over 262144, a link type
         * the decoder does not know) */
        iobuf = classic ? NULL : malloc(FILE_BUFFER);
        if (iobuf) setvbuf(fp, iobuf, _IOFBF, FILE_BUFFER);
        p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
        if (!p) {
            fclose(fp);
            free(iobuf);
        }
    }
    if (!p) {
        const char *hint = format_hint(head, head_len);
        if (is_dir)
            snprintf(err, errcap,
                     "%s: a directory: -r takes capture files, each with its own -r, in the order "
                     "they were written",
                     name);
        else if (head_len == 0) snprintf(err, errcap, "%s: empty, no capture in it", name);
        else if (zk >= 0 && hint)
            snprintf(err, errcap, "%s: decompressed with %s, not a pcap or pcapng file: %s", path, compressors[zk].tool,
                     hint);
        else if (zk >= 0) snprintf(err, errcap, "%s: decompressed with %s: %s", path, compressors[zk].tool, perr);
        else if (hint) put_hint(err, errcap, name, is_stdin || is_pipe ? NULL : path, hint);
        /* libpcap sometimes names the file itself */
        else if (strncmp(perr, path, strlen(path)) == 0) snprintf(err, errcap, "%s", perr);
        else snprintf(err, errcap, "%s: %s", name, perr);
        return NULL;
    }
    sn_capture *c = calloc(1, sizeof *c);
    if (!c) {
        pcap_close(p);
        free(iobuf);
        stdin_free(in);
        snprintf(err, errcap, "%s: out of memory", path);
        return NULL;
    }
    c->p = p;
    c->linktype = pcap_datalink(p);
    c->iobuf = iobuf;
    c->in = in;
    snprintf(c->name, sizeof c->name, "%s", name);
    if (!in && have_st && S_ISREG(st0.st_mode)) c->size = (uint64_t)st0.st_size;
    /* Offsets are counted, not asked for: ftell() per packet costs a
     * system call. pcap records are 16 + caplen bytes after a 24-byte
     * header; pcapng blocks are estimated (exact offsets come from the
     * stream position when an error is reported). Standard input asks its
     * own stream instead (stdin_stream). */
    c->format = -1;
    if (have_magic) c->format = (magic[0] == 0x0A && magic[1] == 0x0D && magic[2] == 0x0D && magic[3] == 0x0A) ? 1 : 0;
    c->offset = c->format == 0 ? 24 : 0;
    c->sec_mask = c->format == 0 ? UINT32_MAX : UINT64_MAX;
    if (in) c->offset = (uint64_t)ftello(pcap_file(p)); /* after the headers libpcap read */
    int classic_ok = classic && pcap_major_version(p) == 2 && pcap_minor_version(p) == 4;
    if ((classic_ok || c->format == 1) && sn_decode_linktype_ok(pcap_datalink(p)) && pcap_snapshot(p) > 0 &&
        !(in && in->lost)) {
        /* the descriptor libpcap read the header from: the same file even
         * if the path was replaced meanwhile (standard input: its stream
         * has none, and has kept what libpcap read) */
        FILE *fp = pcap_file(p);
        int fd = in ? dup(in->fd) : fp ? dup(fileno(fp)) : -1;
        uint32_t snap = (uint32_t)pcap_snapshot(p);
        int lt = pcap_datalink(p);
        int rc = -1;
        if (fd < 0) rc = -1; /* no descriptor: libpcap reads on */
        else if (in && classic_ok)
            rc = sn_pcapread_init_stream(&c->rd, fd, in->kept, in->kept_len, classic == 2, nsec, snap, MAX_CAPLEN);
        else if (in) rc = sn_pcapread_init_ng_stream(&c->rd, fd, in->kept, in->kept_len, lt, snap, MAX_CAPLEN);
        else if (classic_ok) rc = sn_pcapread_init(&c->rd, fd, classic == 2, nsec, snap, MAX_CAPLEN);
        else rc = sn_pcapread_init_ng(&c->rd, fd, lt, snap, MAX_CAPLEN);
        if (rc == 0) {
            c->fast = 1;
            c->offset = c->rd.offset;
            if (in) c->rd.interrupted = &c->broken; /* sn_capture_break from a signal handler */
            set_plain(c);
        } else if (fd >= 0) close(fd);
    }
    if (in && !c->fast) { /* libpcap reads on: the bytes it read are its own */
        free(in->kept);
        in->kept = NULL;
        in->kept_len = in->kept_cap = 0;
    }
    return c;
}

int sn_capture_netfilter_device(const char *iface) {
    return strncmp(iface, "nflog", 5) == 0 || strncmp(iface, "nfqueue", 7) == 0;
}

/* A live capture that cannot be opened: the message for libpcap's status
 * rc (of pcap_activate, or pcap_can_set_rfmon's), p closed; NULL. */
static sn_capture *live_refused(pcap_t *p, const char *iface, int rc, char *err, size_t errcap) {
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
        snprintf(err, errcap, "%s: no such interface; msnsniff -D lists the interfaces it can capture on", iface);
    else if (rc == PCAP_ERROR_RFMON_NOTSUP)
        snprintf(err, errcap,
                 "%s: monitor mode (-I) is not supported on this interface: only Wi-Fi interfaces whose driver "
                 "allows it have it",
                 iface);
    else if (rc == PCAP_ERROR_PERM_DENIED || strstr(pcap_geterr(p), strerror(EPERM))) {
        /* libpcap's words ("socket: Operation not permitted") and what it takes */
        snprintf(err, errcap, "%s: %s: %s", iface, pcap_geterr(p),
                 sn_capture_netfilter_device(iface)
                     ? "reading a netfilter log group needs CAP_NET_ADMIN (root)"
                     : "capturing needs CAP_NET_RAW: run it as root, or give it the capability "
                       "(the msnsniff@ unit does; setcap cap_net_raw+ep on the binary)");
    } else {
        snprintf(err, errcap, "%s: %s", iface, pcap_geterr(p));
    }
    pcap_close(p);
    return NULL;
}

sn_capture *sn_capture_open_live(const char *iface, int promisc, int monitor, size_t buffer_bytes, char *err,
                                 size_t errcap) {
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(iface, perr);
    if (!p) {
        snprintf(err, errcap, "%s: %s", iface, perr);
        return NULL;
    }
    pcap_set_snaplen(p, 262144);
    pcap_set_promisc(p, promisc ? 1 : 0);
    if (monitor) {
        /* every frame on the channel, with a radiotap header (802.11 in
         * the decoder); asked first, as libpcap only says at activation */
        int can = pcap_can_set_rfmon(p);
        if (can == 0 && if_nametoindex(iface) == 0) can = PCAP_ERROR_NO_SUCH_DEVICE; /* libpcap says 0 */
        if (can <= 0) return live_refused(p, iface, can == 0 ? PCAP_ERROR_RFMON_NOTSUP : can, err, errcap);
        pcap_set_rfmon(p, 1);
    }
    /* Not immediate mode: there libpcap gives every packet a slot of the
     * snapshot length (64 KiB on an interface with offloads, 256 KiB on
     * "any"), so the 16 MiB held only 64 to 256 packets and a burst of
     * small ones was dropped by the kernel. In blocks, the buffer holds
     * its size in packets; a block is handed over LIVE_BLOCK_MS after its
     * first packet at the latest (SN_CAPTURE_BUFFER says what that means
     * for its size). */
    pcap_set_timeout(p, LIVE_BLOCK_MS);
    pcap_set_immediate_mode(p, 0);
    pcap_set_buffer_size(p, (int)buffer_bytes);
    int rc = pcap_activate(p);
    if (rc < 0) return live_refused(p, iface, rc, err, errcap);
    /* libpcap's own wait ends only when a block is handed over, which an
     * idle capture never does: the capture is non-blocking and
     * sn_capture_next waits itself, with a timeout, so that the engine is
     * ticked. */
    int fd = -1;
    perr[0] = '\0';
    if (pcap_setnonblock(p, 1, perr) != 0 || (fd = pcap_get_selectable_fd(p)) < 0) {
        snprintf(err, errcap, "%s: cannot wait for packets: %s", iface, perr[0] ? perr : "no selectable descriptor");
        pcap_close(p);
        return NULL;
    }
    sn_capture *c = calloc(1, sizeof *c);
    if (!c) {
        pcap_close(p);
        return NULL;
    }
    c->p = p;
    c->linktype = pcap_datalink(p);
    c->live = 1;
    c->live_fd = fd;
    c->netfilter = sn_capture_netfilter_device(iface);
    if (c->linktype == DLT_NFLOG) { /* nflog[:G,...] */
        char why[128];
        if (sn_nflog_prompt(fd, iface, why, sizeof why) != 0)
            fprintf(stderr,
                    "msnsniff: %s: could not ask the kernel to hand each logged packet over at once (%s): they "
                    "come in batches, up to a second late, and a stop may miss the last ones\n",
                    iface, why);
    }
    c->sec_mask = UINT64_MAX;
    snprintf(c->name, sizeof c->name, "%s", iface);
    c->have_base = pcap_stats(p, &c->base) == 0;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", iface);
    c->countable = strcmp(iface, "any") != 0 && strlen(iface) < sizeof ifr.ifr_name &&
        ioctl(pcap_fileno(p), SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_LOOPBACK);
    return c;
}

static void free_other_progs(sn_capture *c) {
    for (int i = 0; i < c->nother; i++)
        if (c->other[i].ok) pcap_freecode(&c->other[i].prog);
    c->nother = 0;
}

/* The message of a filter libpcap refused: a long filter (hundreds of
 * hosts) is shown by its start, so that the reason still fits. */
static void filter_error(char *err, size_t errcap, const char *expr, const char *why) {
    int shown = 200;
    snprintf(err, errcap, "filter \"%.*s%s\": %s", shown, expr, strlen(expr) > (size_t)shown ? " ..." : "", why);
}

int sn_capture_set_filter(sn_capture *c, const char *expr, char *err, size_t errcap) {
    struct bpf_program prog;
    if (pcap_compile(c->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        filter_error(err, errcap, expr, pcap_geterr(c->p));
        return -1;
    }
    if (c->fast) {
        if (c->has_prog) pcap_freecode(&c->prog);
        free_other_progs(c); /* compiled from the filter this one replaces */
        c->prog = prog;
        c->has_prog = 1;
        set_plain(c);
        free(c->filter);
        c->filter = strdup(expr); /* for other link types (other_prog) */
        if (!c->filter) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        return 0;
    }
    int rc = pcap_setfilter(c->p, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        filter_error(err, errcap, expr, pcap_geterr(c->p));
        return -1;
    }
    if (c->live) c->have_base = pcap_stats(c->p, &c->base) == 0;
    return 0;
}

int sn_capture_linktype(const sn_capture *c) { return pcap_datalink(c->p); }

const char *sn_capture_linktype_name(int linktype, int describe, char *buf, size_t cap) {
    const char *name = pcap_datalink_val_to_name(linktype);
    const char *desc = describe ? pcap_datalink_val_to_description(linktype) : NULL;
    if (name && desc) snprintf(buf, cap, "%s (%s)", name, desc);
    else if (name) snprintf(buf, cap, "%s", name);
    else snprintf(buf, cap, "DLT %d", linktype);
    return buf;
}

int sn_capture_list_interfaces(FILE *out, char *err, size_t errcap) {
    char perr[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    if (pcap_findalldevs(&all, perr) != 0) {
        snprintf(err, errcap, "listing interfaces: %s", perr);
        return -1;
    }
    int i = 0;
    for (pcap_if_t *d = all; d; d = d->next) {
        char flags[128] = "";
        size_t n = 0;
        static const struct {
            bpf_u_int32 bit;
            const char *name;
        } names[] = {{PCAP_IF_UP, "Up"},
                     {PCAP_IF_RUNNING, "Running"},
                     {PCAP_IF_LOOPBACK, "Loopback"},
                     {PCAP_IF_WIRELESS, "Wireless"}};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            if (d->flags & names[k].bit) {
                int w = snprintf(flags + n, sizeof flags - n, "%s%s", n ? ", " : "", names[k].name);
                if (w > 0 && (size_t)w < sizeof flags - n) n += (size_t)w;
            }
        }
        fprintf(out, "%d.%s", ++i, d->name);
        if (d->description) fprintf(out, " (%s)", d->description);
        if (n) fprintf(out, " [%s]", flags);
        fputc('\n', out);
    }
    pcap_freealldevs(all);
    if (i == 0) {
        snprintf(err, errcap, "no interface to capture on (capturing usually needs root or CAP_NET_RAW)");
        return -1;
    }
    return 0;
}

int sn_capture_dump_open(sn_capture *c, const char *path, uint32_t snaplen, char *err, size_t errcap) {
    /* A file header of a larger snapshot length than the capture's: the
     * frames of later files (several -r) may be longer, and a reader cuts
     * every record to the header's length. */
    pcap_t *dead = NULL;
    if (snaplen && snaplen > (uint32_t)pcap_snapshot(c->p)) {
        dead = pcap_open_dead_with_tstamp_precision(c->linktype, (int)snaplen, PCAP_TSTAMP_PRECISION_MICRO);
        if (!dead) {
            snprintf(err, errcap, "%s: out of memory", path);
            return -1;
        }
    }
    pcap_t *from = dead ? dead : c->p;
    c->dump = pcap_dump_open(from, path);
    if (!c->dump) {
        int eno = errno; /* the caller's to read */
        /* libpcap names the file itself when the open fails: once is enough */
        const char *why = pcap_geterr(from);
        size_t n = strlen(path);
        if (strncmp(why, path, n) == 0 && why[n] == ':') snprintf(err, errcap, "%s", why);
        else snprintf(err, errcap, "%s: %s", path, why);
        if (dead) pcap_close(dead);
        errno = eno;
        return -1;
    }
    if (dead) pcap_close(dead); /* the dumper keeps only its FILE */
    snprintf(c->dump_name, sizeof c->dump_name, "%s", strcmp(path, "-") == 0 ? "(stdout)" : path);
    c->dump_linktype = c->linktype;
    set_plain(c);
    return 0;
}

void sn_capture_dump_pass(sn_capture *from, sn_capture *to) {
    if (!from->dump || to->dump) return;
    to->dump = from->dump;
    memcpy(to->dump_name, from->dump_name, sizeof to->dump_name);
    to->dump_errno = from->dump_errno;
    to->dump_linktype = from->dump_linktype;
    to->dump_skipped = from->dump_skipped;
    from->dump = NULL;
    set_plain(from);
    set_plain(to);
}

int sn_capture_dump_close(sn_capture *c, char *err, size_t errcap) {
    if (!c->dump) return 0;
    FILE *fp = pcap_dump_file(c->dump);
    errno = 0;
    int bad = pcap_dump_flush(c->dump) != 0 || ferror(fp);
    int saved = c->dump_errno ? c->dump_errno : errno;
    pcap_dump_close(c->dump); /* closes the FILE (standard output too, as tcpdump does) */
    c->dump = NULL;
    set_plain(c);
    if (bad) {
        snprintf(err, errcap, "%s: writing packets failed: %s", c->dump_name, saved ? strerror(saved) : "write error");
        return -1;
    }
    return 0;
}

void sn_capture_dump_flush(sn_capture *c) {
    if (!c->dump) return;
    errno = 0;
    if (pcap_dump_flush(c->dump) != 0 && !c->dump_errno) c->dump_errno = errno ? errno : EIO;
}

uint64_t sn_capture_dump_skipped(const sn_capture *c) { return c->dump_skipped; }
int sn_capture_dump_error(const sn_capture *c) { return c->dump ? c->dump_errno : 0; }

int sn_capture_stats_get(sn_capture *c, sn_capture_stats *st) {
    struct pcap_stat ps;
    memset(st, 0, sizeof *st);
    if (!c->live || pcap_stats(c->p, &ps) != 0) return -1;
    st->received = ps.ps_recv;
    st->dropped = ps.ps_drop;
    st->if_dropped = ps.ps_ifdrop;
    /* Counted up to the stop when there was one: what arrived after it may
     * still be on its way into the buffer, and is not owed. The packets
     * read after the stop can only make the figure smaller: it is a lower
     * bound, never a false report. */
    st->lost_known = c->countable && c->have_base;
    if (st->lost_known) {
        uint64_t owed = buffered_since(&c->base, c->have_at_stop ? &c->at_stop : &ps);
        st->lost = owed > c->live_read ? owed - c->live_read : 0;
    }
    return 0;
}

/* -w: the frame as read, with its original length. */
static void dump_frame(sn_capture *c, const sn_frame *fr) {
    if (fr->linktype != c->dump_linktype) {
        c->dump_skipped++;
        return;
    }
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof h);
    h.ts.tv_sec = (time_t)(fr->ts_us / 1000000u);
    h.ts.tv_usec = (suseconds_t)(fr->ts_us % 1000000u);
    h.caplen = (bpf_u_int32)fr->caplen;
    h.len = (bpf_u_int32)fr->wirelen;
    errno = 0;
    pcap_dump((u_char *)c->dump, &h, fr->data);
    if (!c->dump_errno && ferror(pcap_dump_file(c->dump))) c->dump_errno = errno ? errno : EIO;
}

/* The filter for packets of another interface's link type (a pcapng file
 * of several interfaces): compiled for it at its first packet. NULL when
 * it cannot apply to that link type (its packets then never match, which
 * is said once). */
static const struct bpf_program *other_prog(sn_capture *c, int lt) {
    for (int i = 0; i < c->nother; i++)
        if (c->other[i].linktype == lt) return c->other[i].ok ? &c->other[i].prog : NULL;
    if (c->nother == (int)(sizeof c->other / sizeof c->other[0])) return NULL;
    int i = c->nother++;
    c->other[i].linktype = lt;
    c->other[i].ok = 0;
    pcap_t *dead = pcap_open_dead(lt, 262144);
    if (dead && c->filter && pcap_compile(dead, &c->other[i].prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) == 0) {
        c->other[i].ok = 1;
    } else {
        char name[128];
        fprintf(stderr,
                "msnsniff: %s: the filter cannot apply to link type %s (%s): that interface's packets are "
                "left out\n",
                c->name, sn_capture_linktype_name(lt, 0, name, sizeof name),
                dead ? pcap_geterr(dead) : "out of memory");
    }
    if (dead) pcap_close(dead);
    return c->other[i].ok ? &c->other[i].prog : NULL;
}

/* What an offset counts: a compressed file's are of what its
 * decompressor gives. */
static const char *of_data(const sn_capture *c) { return c->in && c->in->tool ? " of the decompressed data" : ""; }

/* The end of a capture's data: for a compressed file, whether its
 * decompressor got to the end of it. 0, or -1 with err set. */
static int stream_end(sn_capture *c, char *err, size_t errcap) {
    if (!c->in || !c->in->child) return 0;
    int st = decompressor_status(c->in);
    if (st == 0) return 0;
    snprintf(err, errcap,
             "%s: %s failed (%s %d; its message is above): the file is damaged or cut short; the packets before "
             "that point were read",
             c->name, c->in->tool, st < 0 ? "signal" : "status", st);
    return -1;
}

static int next_fast(sn_capture *c, sn_frame *fr, char *err, size_t errcap) {
    sn_pcaprec rec;
    char msg[256];
    uint64_t at;
    for (;;) { /* bounded: every turn consumes a record of the file */
        if (c->broken) return 0;
        int rc = sn_pcapread_next(&c->rd, &rec, msg, sizeof msg, &at);
        c->offset = c->rd.offset;
        if (rc == 0) return stream_end(c, err, errcap);
        /* a pipe whose reading a signal ended, perhaps inside a record:
         * the run stops there, as it stops in a file */
        if (rc < 0 && c->rd.stream && c->broken) return 0;
        if (rc < 0) {
            snprintf(err, errcap, "%s: at offset %llu%s: %s", c->name, (unsigned long long)at, of_data(c), msg);
            return -1;
        }
        int lt = c->rd.ng ? rec.linktype : c->linktype;
        if (c->has_prog) {
            struct pcap_pkthdr h;
            memset(&h, 0, sizeof h);
            h.caplen = (bpf_u_int32)rec.caplen;
            h.len = (bpf_u_int32)rec.len;
            const struct bpf_program *prog = lt == c->linktype ? &c->prog : other_prog(c, lt);
            if (!prog || !pcap_offline_filter(prog, &h, rec.data)) continue;
        }
        fr->linktype = lt;
        fr->ts_us = rec.ts_us;
        fr->data = rec.data;
        fr->caplen = rec.caplen;
        fr->wirelen = rec.len < rec.caplen ? rec.caplen : rec.len;
        return 1;
    }
}

static int next_frame(sn_capture *c, sn_frame *fr, char *err, size_t errcap);

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A stop still owes packets: those the kernel had counted as buffered when
 * it came and that are not read yet; without the counters, the last block
 * is waited for once. */
static int drain_owed(const sn_capture *c) {
    if (!c->countable || !c->have_base || !c->have_at_stop) return !c->drain_waited;
    return c->live_read < buffered_since(&c->base, &c->at_stop);
}

int sn_capture_next(sn_capture *c, sn_frame *fr, char *err, size_t errcap) {
    sn_pcaprec rec;
    if (c->plain && sn_pcapread_next_whole(&c->rd, &rec)) {
        /* what next_fast makes of such a record, without its checks of
         * what plain rules out (c->offset is the reader's: sn_capture_offset) */
        fr->linktype = c->linktype;
        fr->ts_us = rec.ts_us;
        fr->data = rec.data;
        fr->caplen = rec.caplen;
        fr->wirelen = rec.len < rec.caplen ? rec.caplen : rec.len;
        return 1;
    }
    int rc = next_frame(c, fr, err, errcap);
    if (rc == 1 && c->dump) dump_frame(c, fr);
    return rc;
}

/* pcap_next_ex. A live capture reads without blocking, and libpcap's
 * netfilter module (nflog:N, nfqueue:N) says "nothing to read" as an error
 * (its recv's EAGAIN, with the handle left as it was) where the others
 * return 0: that is 0 here too, so that msnsniff waits for the next log
 * message instead of stopping at the first quiet moment. */
static int read_next(sn_capture *c, struct pcap_pkthdr **h, const u_char **d) {
    errno = 0;
    int rc = pcap_next_ex(c->p, h, d);
    if (rc == PCAP_ERROR && c->live && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return rc;
}

static int next_frame(sn_capture *c, sn_frame *fr, char *err, size_t errcap) {
    if (c->fast) return next_fast(c, fr, err, errcap);
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc = read_next(c, &h, &d);
    if (rc == PCAP_ERROR_BREAK && c->live && c->draining)
        rc = read_next(c, &h, &d); /* the break that started the drain */
    /* Live and nothing buffered: wait for a packet, at most LIVE_WAIT_MS.
     * Only a wait that timed out (or a signal) returns 2, so the caller
     * ticks when the capture is idle, not between packets. */
    while (rc == 0 && c->live && !c->draining && !c->broken) {
        struct pollfd pfd = {c->live_fd, POLLIN, 0};
        if (poll(&pfd, 1, LIVE_WAIT_MS) <= 0) return 2;
        rc = read_next(c, &h, &d);
    }
    /* Stopping: the block being filled when the stop came holds the last
     * packets captured before it, and is handed over only when its time
     * is up; with traffic going on, blocks before it may come first. The
     * drain waits until every packet the kernel had counted at the stop is
     * read, and no longer than DRAIN_MAX_MS in all (a packet the kernel
     * lost is never read). */
    while (rc == 0 && c->live && c->draining && drain_owed(c)) {
        int left = (int)(c->drain_deadline_ms - mono_ms());
        if (left <= 0) break;
        c->drain_waited = 1;
        struct pollfd pfd = {c->live_fd, POLLIN, 0};
        int n = poll(&pfd, 1, left);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
        rc = read_next(c, &h, &d);
        /* libpcap reports the stop's break only when it has a block to read */
        if (rc == PCAP_ERROR_BREAK) rc = read_next(c, &h, &d);
    }
    if (rc == 1) {
        c->live_read++;
        if (c->in) c->offset = (uint64_t)ftello(pcap_file(c->p)); /* the next record's or block's */
        else if (!c->live) c->offset += c->format == 1 ? 32u + ((h->caplen + 3u) & ~3u) : 16u + h->caplen;
        fr->ts_us = ((uint64_t)h->ts.tv_sec & c->sec_mask) * 1000000u + (uint64_t)h->ts.tv_usec;
        fr->data = d;
        fr->caplen = h->caplen;
        fr->wirelen = h->len < h->caplen ? h->caplen : h->len;
        fr->linktype = c->linktype;
        return 1;
    }
    if (rc == PCAP_ERROR_BREAK) return c->live ? (c->draining ? 0 : 2) : stream_end(c, err, errcap);
    if (rc == 0) return c->draining ? 0 : 2;
    if (c->live) {
        snprintf(err, errcap, "%s: %s", c->name, pcap_geterr(c->p));
    } else if (c->format == 0 || c->in) {
        /* the damaged record or block starts where the last good one ended */
        snprintf(err, errcap, "%s: at offset %llu%s: %s", c->name, (unsigned long long)c->offset, of_data(c),
                 pcap_geterr(c->p));
    } else {
        FILE *fp = pcap_file(c->p);
        long at = fp ? ftell(fp) : -1;
        if (at >= 0) snprintf(err, errcap, "%s: near offset %ld: %s", c->name, at, pcap_geterr(c->p));
        else
            snprintf(err, errcap, "%s: after %llu bytes: %s", c->name, (unsigned long long)c->offset,
                     pcap_geterr(c->p));
    }
    return -1;
}

uint64_t sn_capture_offset(const sn_capture *c) { return c->fast ? c->rd.offset : c->offset; }
uint64_t sn_capture_size(const sn_capture *c) { return c->size; }
/* From a signal handler. libpcap's netfilter module throws away the
 * message it has just received when a pcap_breakloop came during the
 * recv: the packet would be lost, not left for the drain. Its reads never
 * block (non-blocking, the wait is next_frame's poll, which the signal or
 * LIVE_WAIT_MS ends), so it is not told to break; broken ends the wait. */
void sn_capture_break(sn_capture *c) {
    c->broken = 1;
    c->plain = 0;
    if (!c->netfilter) pcap_breakloop(c->p);
}
int sn_capture_is_live(const sn_capture *c) { return c->live; }
const char *sn_capture_reader(const sn_capture *c) { return c->fast ? "pcapread" : "libpcap"; }

void sn_capture_drain(sn_capture *c) {
    char perr[PCAP_ERRBUF_SIZE];
    c->draining = 1;
    if (c->live) {
        pcap_setnonblock(c->p, 1, perr);
        c->have_at_stop = pcap_stats(c->p, &c->at_stop) == 0;
        c->drain_deadline_ms = mono_ms() + DRAIN_MAX_MS;
    }
}

void sn_capture_skip_rest(sn_capture *c) {
    if (!c->live) return;
    sn_capture_drain(c);
    if (!c->countable || !c->have_base || !c->have_at_stop) return;
    sn_frame fr;
    char err[256];
    /* bounded: each turn reads a packet, and at most the owed ones are wanted */
    while (drain_owed(c) && next_frame(c, &fr, err, sizeof err) == 1) {
    }
}

void sn_capture_close(sn_capture *c) {
    if (!c) return;
    if (c->fast) {
        sn_pcapread_free(&c->rd); /* stops the reader thread before its descriptor goes */
        close(c->rd.fd);
    }
    if (c->has_prog) pcap_freecode(&c->prog);
    free_other_progs(c);
    free(c->filter);
    if (c->dump) pcap_dump_close(c->dump);
    pcap_close(c->p);
    free(c->iobuf);
    stdin_free(c->in); /* after sn_pcapread_free: the reader started with its bytes */
    free(c);
}
