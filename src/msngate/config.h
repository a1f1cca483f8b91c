/* config.h - msngate settings: defaults, the INI file (inih), then the
 * command line on top. See docs/msngate.md for every key. */
#ifndef GATE_CONFIG_H
#define GATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define GATE_MAX_PORTS 16

typedef enum gate_mode { GATE_PASSIVE = 0, GATE_INLINE } gate_mode;
typedef enum gate_policy { GATE_POLICY_SKIP = 0, GATE_POLICY_OPEN } gate_policy;

typedef struct gate_config {
    gate_mode mode;
    char interface[64]; /* passive: capture here */
    char filter[512];   /* passive: extra BPF filter ("" = all) */
    char table[64];     /* inet table holding the sets */
    unsigned queue_num;
    int queue_bypass; /* inline: fail open when msngate is down (default 1) */
    uint16_t control_ports[GATE_MAX_PORTS];
    size_t ncontrol_ports;
    uint32_t mark_control, mark_secondary;
    unsigned hit_grace_s;      /* elements of a seen connection are deleted this much later */
    int capture_in_only;       /* passive: only packets entering the interface(s) */
    int reverse_path;          /* analyse only packets whose source routes back out of their ingress (default 1) */
    unsigned expect_timeout_s; /* element timeout (and the analyzer's expectation timeout) */
    gate_policy forged_policy; /* announced address is a third host */
    gate_policy nat_policy;    /* announced address differs from the one seen (NAT) */
    unsigned max_pinholes;     /* elements tracked at once; beyond, new ones are refused */
    unsigned stats_interval_s; /* status line period (0 = only on SIGUSR1) */
    char stats_file[256];      /* JSON stats, rewritten with every status line ("" = none) */
    uint64_t memcap;           /* analyzer memory budget */
    unsigned capture_buf_mb;   /* passive: the kernel's capture ring (INI capture_buffer_mb) */
    char iptables[128], ip6tables[128];
    int verbose;
    int realtime; /* SCHED_FIFO: the packet path is not queued behind other work */
} gate_config;

void gate_config_defaults(gate_config *c);
/* Reads an INI file ([msngate] section) over *c. Returns 0, or -1 with
 * "file:line: what" in err. */
int gate_config_load(gate_config *c, const char *path, char *err, size_t errcap);
/* One setting by key (the INI keys; the CLI uses the same names). */
int gate_config_set(gate_config *c, const char *key, const char *value, char *err, size_t errcap);

#endif
