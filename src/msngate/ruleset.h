/* ruleset.h - what msngate puts into the kernel besides set elements:
 * its table and its twelve sets (one per application class and address
 * family), and in inline mode the connmark chain and the queue hook.
 *
 * The table, sets and chains are written as nft commands and applied
 * through libnftables (one transaction per call). The queue hook uses the
 * native nft `queue` statement when the kernel has it and otherwise the
 * xt NFQUEUE target through iptables-nft / ip6tables-nft (the kernel's
 * NFT_COMPAT); ruleset_queue_kind() says which was installed. */
#ifndef GATE_RULESET_H
#define GATE_RULESET_H

#include <stddef.h>
#include <stdint.h>

/* Application classes, one set each per family. */
typedef enum gate_class {
    GATE_FILE_TRANSFER = 0,
    GATE_VOICE_VIDEO,
    GATE_WHITEBOARD,
    GATE_APP_SHARING,
    GATE_REMOTE_ASSISTANCE,
    GATE_SWITCHBOARD,
    GATE_CLASSES
} gate_class;

const char *gate_class_name(gate_class c);
/* Class of an expectation's app ("file_transfer", "voice", "video", ...);
 * -1 for applications no set stands for (games, unknown). */
int gate_class_of_app(const char *app);
/* "<class>_v4" / "<class>_v6" */
void gate_set_name(gate_class c, int family, char *out, size_t cap);

typedef struct ruleset_opts {
    const char *table; /* inet table the sets live in */
    /* inline mode */
    unsigned queue_num;
    int queue_bypass;              /* fail open when no program listens on the queue */
    const uint16_t *control_ports; /* TCP ports whose traffic is queued (1863, ...) */
    size_t ncontrol_ports;
    uint32_t mark_control;            /* connmark bit: switchboard connections (all packets queued) */
    uint32_t mark_secondary;          /* connmark bit: predicted connections (first packets queued) */
    const char *iptables, *ip6tables; /* programs for the xt fallback */
} ruleset_opts;

/* 0 when nft cannot read `table` as a table's name (a word of its grammar,
 * such as fwd or counter), checked without changing anything. */
int ruleset_table_name_ok(const char *table);
/* Creates the table (if missing) and the sets (if missing), then flushes
 * the sets. Errors name the cause (no privileges, a set of another type). */
int ruleset_setup_sets(const ruleset_opts *o, char *err, size_t errcap);
/* Removes every element from the sets (clean exit). */
int ruleset_flush_sets(const ruleset_opts *o, char *err, size_t errcap);

typedef enum queue_kind { QUEUE_NONE = 0, QUEUE_NFT, QUEUE_XT } queue_kind;

/* Inline mode: the connmark chain and the queue hook. Hooks left by an
 * earlier run (a crash) are removed first. */
int ruleset_install_queue(const ruleset_opts *o, queue_kind *kind, char *err, size_t errcap);
/* Removes the connmark chain and the queue hook (either kind). */
void ruleset_remove_queue(const ruleset_opts *o);
/* 1 when the sets, the connmark chain and the queue hook of kind are all
 * in the kernel; 0 when something removed one ("flush ruleset", a
 * firewall reloaded without them). */
int ruleset_queue_present(const ruleset_opts *o, queue_kind kind);
const char *queue_kind_name(queue_kind k);
/* 1 when a rule of a chain of the table (other than msngate's own) names
 * one of the sets, 0 when none does or the table is gone, -1 when nftables
 * cannot be asked. */
int ruleset_sets_in_use(const ruleset_opts *o);

#endif
