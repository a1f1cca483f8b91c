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
/* Removes every element from the sets (clean exit): 0, 1 when the table
 * is gone already (nothing to empty), -1 (err says why). */
int ruleset_flush_sets(const ruleset_opts *o, char *err, size_t errcap);
/* The kernel's handle of the table: a new one each time the table is made
 * again (deleted, or a ruleset loaded with "flush ruleset" first), so a
 * change says that the sets were replaced by empty ones. 0 when the table
 * is missing, -1 when nftables cannot be asked. */
long long ruleset_table_handle(const ruleset_opts *o);

typedef enum queue_kind { QUEUE_NONE = 0, QUEUE_NFT, QUEUE_XT } queue_kind;

/* Inline mode: the connmark chain and the queue hook. Hooks left by an
 * earlier run (a crash) are removed first. */
int ruleset_install_queue(const ruleset_opts *o, queue_kind *kind, char *err, size_t errcap);
/* Queue hooks an earlier run that did not stop cleanly (kill -9, a crash)
 * left, whatever its mode's and queue number: the connmark chain and the
 * nft queue chain of the table, and every xt hook MSNGATE_Q<n> whose
 * queue no program reads (in inline mode also this run's queue's, which it
 * reads itself). Returns how many were removed, their names in said. */
int ruleset_remove_left(const ruleset_opts *o, int inline_mode, char *said, size_t saidcap);
/* Removes the connmark chain and the queue hook (either kind), and the
 * mangle tables of the xt hook when msngate made them and they are empty. */
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
