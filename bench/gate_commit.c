/* gate_commit - cost of putting one element into an nftables set and
 * having the kernel acknowledge it, two ways:
 *   libnftnl/libmnl  one netlink batch with NEWSETELEM, wait for the ACK
 *                    (what msngate does, nftset.c)
 *   libnftables      nft_run_cmd_from_buffer("add element ...") per element
 * Run as root in a scratch network namespace (bench/gate-bench.sh does):
 * it creates table inet msngate_bench with one set, measures N of each,
 * deletes the table, and prints JSON with p50/p99/mean in µs. COUNT (the
 * first argument) is the number of elements each way, 10 to 1000000. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter.h>
#include <nftables/libnftables.h>

#include "nftset.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void summary(const char *name, uint64_t *v, size_t n, int last) {
    qsort(v, n, sizeof v[0], cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)v[i];
    printf("  \"%s\": {\"n\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f}%s\n", name,
           n, (double)v[n / 2] / 1e3, (double)v[(n * 99) / 100] / 1e3, (double)v[n - 1] / 1e3, sum / (double)n / 1e3,
           last ? "" : ",");
}

static int nft(struct nft_ctx *c, const char *cmd) {
    if (nft_run_cmd_from_buffer(c, cmd) != 0) {
        fprintf(stderr, "gate_commit: nft: %s\n", nft_ctx_get_error_buffer(c));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    size_t n = 2000;
    if (argc > 1) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[1], &end, 10);
        /* a count as typed, not whatever strtoul made of it ("2k" as 2,
         * "-1" as a count that could not be allocated) */
        if (argc > 2) {
            fprintf(stderr, "usage: gate_commit [COUNT]  (elements each way, default 2000)\n");
            return 2;
        }
        if (errno || end == argv[1] || *end || argv[1][0] == '-' || v < 10 || v > 1000000) {
            fprintf(stderr, "gate_commit: COUNT: '%s' is not a whole number in [10,1000000]\n", argv[1]);
            return 2;
        }
        n = (size_t)v;
    }
    struct nft_ctx *c = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!c) return 1;
    nft_ctx_buffer_output(c);
    nft_ctx_buffer_error(c);
    if (nft(c,
            "add table inet msngate_bench\n"
            "add set inet msngate_bench s { type ipv4_addr . inet_proto . inet_service; flags timeout; }\n") != 0)
        return 1;
    char err[256];
    nftset *s = nftset_open(NFPROTO_INET, "msngate_bench", err, sizeof err);
    if (!s) {
        fprintf(stderr, "gate_commit: %s\n", err);
        return 1;
    }
    uint64_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
    if (!a || !b) return 1;
    int fe = 0;
    for (size_t i = 0; i < n; i++) {
        nftset_key k = {4, 6, (uint16_t)(1024 + i % 60000), {10, 99, (uint8_t)(i >> 8), (uint8_t)i}};
        uint64_t t0 = now_ns();
        nftset_add(s, "s", &k, 300000);
        if (nftset_commit(s, &fe, err, sizeof err) != 0) {
            fprintf(stderr, "gate_commit: commit failed: %s %d\n", err, fe);
            return 1;
        }
        a[i] = now_ns() - t0;
    }
    for (size_t i = 0; i < n; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "add element inet msngate_bench s { 10.98.%u.%u . tcp . %u timeout 300s }\n",
                 (unsigned)((i >> 8) & 255), (unsigned)(i & 255), (unsigned)(1024 + i % 60000));
        uint64_t t0 = now_ns();
        if (nft(c, cmd) != 0) return 1;
        b[i] = now_ns() - t0;
    }
    nft(c, "delete table inet msngate_bench\n");
    printf("{\n");
    summary("libnftnl_libmnl", a, n, 0);
    summary("libnftables", b, n, 1);
    printf("}\n");
    nftset_close(s);
    nft_ctx_free(c);
    free(a);
    free(b);
    return 0;
}
