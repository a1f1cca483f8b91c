/* config.h - msnd settings: defaults, INI file (inih) and command-line
 * flags. The INI keys are the flag names without the leading dashes (a
 * dash and an underscore are the same), in any section. Flags override the
 * file. */
#ifndef MSND_CONFIG_H
#define MSND_CONFIG_H

#include <stddef.h>

#define CFG_ADDR 256
#define CFG_PATH 1024

typedef struct msnd_config {
    char role[24];         /* all, or a comma list of ds, ns, sb */
    char listen[CFG_ADDR]; /* DS (or NS with --role ns) */
    char ns_listen[CFG_ADDR];
    char sb_listen[CFG_ADDR];
    char ns_nodes[4 * CFG_ADDR];
    char sb_address[CFG_ADDR];
    char link_listen[CFG_ADDR];  /* NS: where switchboard processes link in */
    char ns_links[4 * CFG_ADDR]; /* SB process: the notification servers' link addresses */
    char ns_peers[4 * CFG_ADDR]; /* NS: the other NS nodes' link addresses (shared presence) */
    char link_secret[128];
    char db[CFG_PATH];
    char port_file[CFG_PATH];
    char log[16]; /* auto | stderr | journal | syslog (log.h) */
    char log_file[CFG_PATH];
    char log_level[16];
    char config[CFG_PATH];
    int log_invitations;

    /* limits (0 = unlimited where it makes sense) */
    long max_line;    /* command line bytes */
    long max_payload; /* framing limit: bigger payloads close the connection */
    long max_message; /* SB MSG payload limit (refused, session survives) */
    long max_commands_per_second;
    long command_burst;
    long max_connections;
    long max_connections_per_address;
    long login_cache_mb;       /* store_set_login_cache */
    long login_timeout;        /* seconds before USR OK / SB join */
    long ns_idle_timeout;      /* seconds without input after login (0 = never) */
    long sb_idle_timeout;      /* seconds without input in a switchboard */
    long tcp_keepalive;        /* seconds of silence before TCP keepalive probes (0 = off) */
    long max_forward_list;     /* FL entries */
    long max_allow_block_list; /* AL and BL entries each */
    long max_groups;
    long max_participants;          /* per switchboard */
    long cookie_lifetime;           /* seconds an XFR/RNG cookie stays valid */
    long max_xfr_cookies_per_user;  /* XFR SB cookies one user may hold unused (0 = unlimited) */
    long max_switchboards_per_user; /* sessions one user may be in at one switchboard (0 = unlimited) */
    long auth_failures_per_account; /* failed logins for one account from one address before delays */
    long auth_failures_per_address; /* failed logins from one address (any account) before delays */
    long auth_failure_window;       /* seconds after which failures are forgotten */
    long auth_delay;                /* seconds: the first block at the limit */
    long auth_max_delay;            /* seconds: the longest block (each failure doubles it) */
    long challenges;                /* send CHL to MSNP6/7 clients */
    long challenge_timeout;         /* seconds to answer a CHL */
    long max_output;                /* bytes queued to a slow client before it is dropped */
    long max_output_before_login;   /* the same for a client that has not logged in */
    long max_output_total;          /* all connections together (0 = unlimited) */
    long shutdown_grace;            /* seconds to flush OUT SSD before exiting */
} msnd_config;

void config_defaults(msnd_config *c);
/* Load an INI file. Returns 0, or -1 with a message in err. */
int config_load_file(msnd_config *c, const char *path, char *err, size_t errcap);
/* Is name a setting? -1 no, 1 a yes/no flag (may stand alone on the
 * command line), 0 one that takes a value. */
int config_kind(const char *name);
/* Apply one setting by name ("listen", "max-message", ...). */
int config_set(msnd_config *c, const char *name, const char *value, char *err, size_t errcap);
/* What no single setting shows, for the server: a role without the
 * settings it needs, ports derived from --listen past 65535, --ns-peers
 * on a node the peers cannot reach back. 0, or -1 with the reason (naming
 * the options) in err. Called before anything is opened or created. */
int config_check(const msnd_config *c, char *err, size_t errcap);
/* The ports the roles without an address of their own take: --listen's
 * port plus *ns_offset / *sb_offset (0: that role has its own address, or
 * is --listen itself). --listen is the first role's; the others follow on
 * the next ports. The roles are config_roles_parse's. */
void config_port_offsets(const msnd_config *c, int ds, int ns, unsigned *ns_offset, unsigned *sb_offset);
/* Print the flag list. */
void config_usage(void *file);
/* The roles a --role value names ("all", or a comma list of ds, ns, sb):
 * 0, or -1 when it names something else or nothing. */
int config_roles_parse(const char *spec, int *ds, int *ns, int *sb);

#endif
