/* codec - libmsnp parse throughput on a realistic mixed stream.
 *
 * Builds, in memory, the byte stream a busy server reads from its clients
 * (VER/CVR/USR/SYN/CHG/ADD/REA/XFR/CAL/PNG and switchboard MSG traffic:
 * plain text with X-MMS-IM-Format, typing notifications and invitations of
 * every kind) and the stream clients read from servers (NLN/ILN/LST/RNG/
 * JOI/relayed MSG), then measures:
 *   framing   msnp_parse over the whole buffer (the server's hot loop)
 *   segmented the same bytes arriving in 1460-byte reads, as from a socket
 *   full      framing + MIME header parse of every MSG payload +
 *             X-MMS-IM-Format and invitation parse where present
 * and counts heap allocations made inside the timed loops (a malloc
 * interposer in this binary sees every caller, libraries included).
 *
 * Output: a table, or one JSON object with --json. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msnp/msnp.h>

/* ---- allocation counter: these definitions replace glibc's for the whole
 * process; they forward to the glibc implementations. Not under ASan, which
 * owns malloc itself (the count is then reported as unmeasured). */
static unsigned long long alloc_calls;
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_COUNTING 0
#else
#define ALLOC_COUNTING 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t a, size_t b);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n) {
    alloc_calls++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    alloc_calls++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    alloc_calls++;
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
#endif

/* ---- stream generation (deterministic) */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 20;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) exit(1);
    put(b, tmp, (size_t)n);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t mod) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 33) % mod;
}

static const char *const texts[] = {
    "hi",
    "are you there?",
    "lol that is great, see you at eight then",
    "Did you get the file I sent yesterday? The one with the holiday photos from the lake, it was rather large",
    "ok",
    "brb",
    "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe6\x98\x8e\xe5\xa4\xa9\xe8\xa7\x81",
    "Meeting moved to 3pm. Bring the printouts and the projector cable please. Thanks!"};
#define NTEXTS (sizeof texts / sizeof texts[0])

static const char *const apps[][2] = {{"File Transfer", "{5D3E02AB-6190-11d3-BBBB-00C04F795683}"},
                                      {"NetMeeting", "{44BBA842-CC51-11CF-AAFA-00AA00B6015C}"},
                                      {"Voice", "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}"},
                                      {"Whiteboard", "{1DF57D09-637A-4ca5-91B9-2C3EDAAF62FE}"},
                                      {"Application Sharing", "{F1B1920C-6A3C-4ce7-B18C-AFAB305FD03D}"},
                                      {"Remote Assistance", "{56b994a7-380f-410b-9985-c809d78c1bdc}"}};

/* Writes an MSG payload (MIME block) into out; returns its length. */
static size_t make_payload(char *out, size_t cap, unsigned kind, unsigned i) {
    int n;
    if (kind < 6) {
        n = snprintf(out, cap,
                     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                     "X-MMS-IM-Format: FN=MS%%20Sans%%20Serif; EF=B; CO=ff0000; CS=0; PF=22\r\n\r\n%s",
                     texts[i % NTEXTS]);
    } else if (kind < 9) {
        n = snprintf(
            out, cap,
            "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: user%u@example.com\r\n\r\n\r\n",
            i % 5000);
    } else {
        unsigned a = i % 6;
        if (a == 0)
            n = snprintf(
                out, cap,
                "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
                "Application-Name: %s\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
                "Invitation-Cookie: %u\r\nApplication-File: holiday-%u.jpg\r\nApplication-FileSize: %u\r\n\r\n",
                apps[a][0], apps[a][1], 100000u + i, i, 1000u + i * 7u);
        else if (a == 2)
            n = snprintf(out, cap,
                         "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
                         "Application-Name: %s\r\nApplication-GUID: %s\r\nSession-Protocol: SM1\r\n"
                         "Context-Data: Requested:SIP_A,;Capabilities:SIP_A,;\r\nInvitation-Command: INVITE\r\n"
                         "Invitation-Cookie: %u\r\nSession-ID: {A2ED5ACF-F784-4B47-A7D4-997CD8F643CC}\r\n\r\n",
                         apps[a][0], apps[a][1], 100000u + i);
        else if (i % 3 == 0)
            n = snprintf(out, cap,
                         "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
                         "Invitation-Command: ACCEPT\r\nInvitation-Cookie: %u\r\nIP-Address: 10.44.%u.%u\r\n"
                         "Port: 6891\r\nPortX: 11137\r\nAuthCookie: %u\r\nSender-Connect: TRUE\r\n"
                         "Launch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n\r\n",
                         100000u + i, i % 256, (i / 7) % 256, 7000000u + i);
        else
            n = snprintf(out, cap,
                         "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
                         "Application-Name: %s\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
                         "Invitation-Cookie: %u\r\nSession-Protocol: SM1\r\nContext-Data: 10.1.1.%u:13374\r\n\r\n",
                         apps[a][0], apps[a][1], 100000u + i, i % 250);
    }
    if (n < 0 || (size_t)n >= cap) exit(1);
    return (size_t)n;
}

/* A client-to-server stream: 60 % switchboard MSG, the rest NS commands. */
static void gen_client_stream(buf *b, size_t target) {
    char pl[2048];
    unsigned i = 0, trid = 1;
    while (b->n < target) {
        unsigned r = rnd(100);
        i++;
        if (r < 60) {
            unsigned kind = rnd(10);
            size_t n = make_payload(pl, sizeof pl, kind, i);
            putf(b, "MSG %u %c %zu\r\n", trid++, kind < 6 ? 'A' : (kind < 9 ? 'U' : 'N'), n);
            put(b, pl, n);
        } else if (r < 63) {
            putf(b, "VER %u MSNP7 MSNP6 MSNP5 MSNP4 CVR0\r\n", trid++);
        } else if (r < 66) {
            putf(b, "CVR %u 0x0409 win 4.10 i386 MSNMSGR 5.0.0540 MSMSGS user%u@example.com\r\n", trid++, i % 5000);
        } else if (r < 70) {
            putf(b, "USR %u MD5 S 0b5a3e76f4d8a29e5f6c0d2b4c8e9f13\r\n", trid++);
        } else if (r < 74) {
            putf(b, "SYN %u %u\r\n", trid++, i % 300);
        } else if (r < 80) {
            putf(b, "CHG %u %s\r\n", trid++, (const char *[]){"NLN", "BSY", "AWY", "IDL", "BRB", "PHN", "LUN"}[i % 7]);
        } else if (r < 85) {
            putf(b, "PNG\r\n");
        } else if (r < 88) {
            putf(b, "ADD %u FL user%u@example.com User%%20Number%%20%u\r\n", trid++, i % 5000, i % 5000);
        } else if (r < 90) {
            putf(b, "REA %u user%u@example.com New%%20Name%%20%u\r\n", trid++, i % 5000, i);
        } else if (r < 93) {
            putf(b, "XFR %u SB\r\n", trid++);
        } else if (r < 96) {
            putf(b, "CAL %u user%u@example.com\r\n", trid++, i % 5000);
        } else if (r < 98) {
            putf(b, "USR %u user%u@example.com %u.%u.%u\r\n", trid++, i % 5000, 16925950 + i, 1016955577u, i % 99999);
        } else {
            putf(b, "QRY %u msmsgs@msnmsgr.com 32\r\n0123456789abcdef0123456789abcdef", trid++);
        }
    }
}

/* A server-to-client stream: relayed MSG and notifications. */
static void gen_server_stream(buf *b, size_t target) {
    char pl[2048];
    unsigned i = 0, trid = 1;
    while (b->n < target) {
        unsigned r = rnd(100);
        i++;
        if (r < 55) {
            unsigned kind = rnd(10);
            size_t n = make_payload(pl, sizeof pl, kind, i);
            putf(b, "MSG user%u@example.com User%%20%u %zu\r\n", i % 5000, i % 5000, n);
            put(b, pl, n);
        } else if (r < 70) {
            putf(b, "NLN %s user%u@example.com Friendly%%20Name%%20%u\r\n",
                 (const char *[]){"NLN", "BSY", "AWY", "IDL"}[i % 4], i % 5000, i);
        } else if (r < 75) {
            putf(b, "FLN user%u@example.com\r\n", i % 5000);
        } else if (r < 82) {
            putf(b, "ILN %u NLN user%u@example.com Friendly%%20%u\r\n", trid++, i % 5000, i);
        } else if (r < 88) {
            putf(b, "LST %u FL %u %u 150 user%u@example.com User%%20%u 0\r\n", trid++, i % 900, i % 150 + 1, i % 5000,
                 i);
        } else if (r < 91) {
            putf(b, "RNG %u 127.0.0.1:1865 CKI %u.%u.%u user%u@example.com User%%20%u\r\n", 11752000 + i, 849102,
                 291520 + i, i, i % 5000, i);
        } else if (r < 94) {
            putf(b, "JOI user%u@example.com User%%20%u\r\n", i % 5000, i);
        } else if (r < 96) {
            putf(b, "ACK %u\r\n", trid++);
        } else if (r < 98) {
            putf(b, "911 %u\r\n", trid++);
        } else {
            putf(b, "QNG\r\n");
        }
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct result {
    double seconds, bytes, items, msgs;
    unsigned long long allocs;
    unsigned long long errors;
    unsigned long long checksum; /* keeps the compiler from dropping work */
} result;

enum mode { FRAMING, SEGMENTED, FULL };

static void parse_pass(const buf *b, msnp_role role, enum mode mode, result *res) {
    static msnp_cmd cmd;
    static msnp_mime mime;
    static msnp_invite inv;
    msnp_parser p;
    msnp_parse_error err;
    msnp_parser_init(&p, role, &msnp_default_limits);
    size_t off = 0, avail = mode == SEGMENTED ? 1460 : b->n;
    if (avail > b->n) avail = b->n;
    for (;;) {
        long n = msnp_parse(&p, b->p + off, avail - off, &cmd, &err);
        if (n > 0) {
            off += (size_t)n;
            res->items += 1;
            res->checksum += cmd.code + cmd.argc;
            if (cmd.has_payload) {
                res->msgs += 1;
                if (mode == FULL && cmd.code == MSNP_MSG) {
                    size_t eo;
                    if (msnp_mime_parse(cmd.payload.p, cmd.payload.n, &mime, &eo) == MSNP_MIME_OK) {
                        msnp_content_kind k = msnp_content_kind_of(&mime);
                        res->checksum += (unsigned)k + mime.count;
                        if (k == MSNP_CT_TEXT_PLAIN) {
                            msnp_str f = msnp_mime_value(&mime, "X-MMS-IM-Format");
                            msnp_imformat fmt;
                            if (f.p && msnp_imformat_parse(f, &fmt) == 0) res->checksum += fmt.color_bgr;
                        } else if (k == MSNP_CT_INVITE) {
                            if (msnp_invite_parse(mime.body.p, mime.body.n, &inv, &eo) == MSNP_INVITE_OK)
                                res->checksum += (unsigned)msnp_invite_classify(&inv, NULL) + inv.port;
                        }
                    } else {
                        res->errors++;
                    }
                }
            }
        } else if (n == 0) {
            if (avail >= b->n) break;
            avail += 1460;
            if (avail > b->n) avail = b->n;
        } else {
            res->errors++;
            break;
        }
    }
    res->bytes += (double)off;
}

static result run(const buf *b, msnp_role role, enum mode mode, double min_seconds) {
    result r;
    memset(&r, 0, sizeof r);
    parse_pass(b, role, mode, &r); /* warm-up: page in the buffer */
    memset(&r, 0, sizeof r);
    unsigned long long a0 = alloc_calls;
    double t0 = now_s(), t;
    do {
        parse_pass(b, role, mode, &r);
        t = now_s();
    } while (t - t0 < min_seconds);
    r.allocs = alloc_calls - a0;
    r.seconds = t - t0;
    return r;
}

/* An option's value, all of it a number (atof and atol took "10x" as 10
 * and "abc" as 0), or -1 after saying so. */
static int number_arg(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || d != d) {
        fprintf(stderr, "codec: %s: '%s' is not a number\n", opt, v);
        return -1;
    }
    *out = d;
    return 0;
}

int main(int argc, char **argv) {
    int json = 0;
    double secs = 1.0, mbv = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            if (number_arg("--seconds", argv[++i], &secs) != 0) return 2;
        } else if (!strcmp(argv[i], "--mb") && i + 1 < argc) {
            if (number_arg("--mb", argv[++i], &mbv) != 0) return 2;
        } else {
            fprintf(stderr, "usage: codec [--json] [--seconds S per test (1)] [--mb stream size (32)]\n");
            return 2;
        }
    }
    if (!(secs > 0 && secs <= 60) || !(mbv >= 1 && mbv <= 4096) || mbv != (double)(size_t)mbv) {
        fprintf(stderr, "codec: --seconds must be in (0,60], --mb a whole number in [1,4096]\n");
        return 2;
    }
    size_t mb = (size_t)mbv;
    buf cs = {0}, ss = {0};
    gen_client_stream(&cs, mb << 20);
    gen_server_stream(&ss, mb << 20);

    struct {
        const char *name;
        const buf *b;
        msnp_role role;
        enum mode mode;
        result r;
    } t[] = {
        {.name = "framing_client", .b = &cs, .role = MSNP_FROM_CLIENT, .mode = FRAMING},
        {.name = "framing_server", .b = &ss, .role = MSNP_FROM_SERVER, .mode = FRAMING},
        {.name = "segmented_client", .b = &cs, .role = MSNP_FROM_CLIENT, .mode = SEGMENTED},
        {.name = "full_client", .b = &cs, .role = MSNP_FROM_CLIENT, .mode = FULL},
        {.name = "full_server", .b = &ss, .role = MSNP_FROM_SERVER, .mode = FULL},
    };
    size_t nt = sizeof t / sizeof t[0];
    unsigned long long total_allocs = 0, total_errors = 0;
    for (size_t i = 0; i < nt; i++) {
        t[i].r = run(t[i].b, t[i].role, t[i].mode, secs);
        total_allocs += t[i].r.allocs;
        total_errors += t[i].r.errors;
    }
    if (json) {
        printf("{\"stream_bytes\":%zu", cs.n);
        for (size_t i = 0; i < nt; i++) {
            const result *r = &t[i].r;
            printf(",\"%s\":{\"mb_per_s\":%.1f,\"items_per_s\":%.0f,\"msgs_per_s\":%.0f,\"allocs\":%llu,"
                   "\"errors\":%llu,\"seconds\":%.3f,\"checksum\":%llu}",
                   t[i].name, r->bytes / r->seconds / 1e6, r->items / r->seconds, r->msgs / r->seconds, r->allocs,
                   r->errors, r->seconds, r->checksum);
        }
        if (ALLOC_COUNTING) printf(",\"allocs_in_hot_loops\":%llu", total_allocs);
        else printf(",\"allocs_in_hot_loops\":null");
        printf(",\"errors\":%llu}\n", total_errors);
    } else {
        printf("stream: %zu bytes client->server, %zu bytes server->client (generated in memory)\n", cs.n, ss.n);
        printf("%-18s %10s %12s %12s %8s\n", "test", "MB/s", "items/s", "MSG/s", "allocs");
        for (size_t i = 0; i < nt; i++) {
            const result *r = &t[i].r;
            printf("%-18s %10.1f %12.0f %12.0f ", t[i].name, r->bytes / r->seconds / 1e6, r->items / r->seconds,
                   r->msgs / r->seconds);
            if (ALLOC_COUNTING) printf("%8llu\n", r->allocs);
            else printf("%8s\n", "n/a");
        }
        if (total_errors) printf("parse errors: %llu (the generated stream should have none)\n", total_errors);
    }
    free(cs.p);
    free(ss.p);
    return total_errors ? 1 : 0;
}
