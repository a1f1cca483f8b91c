/* app.h - state of the msnc program shared by its modules. */
#ifndef MSNC_APP_H
#define MSNC_APP_H

#include <stdint.h>

#include <msnc/client.h>
#include <msnp/msnp.h>

struct event_base;

#define MSNC_PROMPT "msnc> "
struct evdns_base;

typedef struct app_config {
    char server[256];
    char email[130];
    char password[256];
    char password_file[1024];
    char password_env[64];
    char bind_ip[64];
    char download_dir[1024];
    char cache_dir[1024];
    char status[8];
    uint16_t ftp_first, ftp_last;
    int max_version, min_version;
    unsigned ping_s, invite_timeout_s, connect_timeout_s, login_timeout_s;
    int reconnect;
    int have_ftp_ports;
    uint64_t max_rate;
    int no_incoming;
} app_config;

enum {
    EXIT_OK = 0,
    EXIT_FAILURE_GENERIC = 1, /* a command failed in batch mode */
    EXIT_AUTH = 2,            /* the server refused our password */
    EXIT_NETWORK = 3,         /* no connection / connection lost for good */
    EXIT_TRANSFER = 4,        /* a file transfer failed (batch) */
    EXIT_USAGE = 64,
    EXIT_OUTPUT = 74, /* the events could not be written (disk full, reader gone) */
    EXIT_CONFIG = 78
};

typedef struct app {
    struct event_base *base;
    struct evdns_base *dns;
    app_config cfg;
    msnc_client *client;
    int batch;
    int current_chat;
    int exit_code;
    int quitting;
    int output_failed; /* writing stdout failed: said once, the session ends, exit EXIT_OUTPUT */
    int stdin_eof;
    /* The two ADDs of each recent /add, and the error its ADD FL got (0 if
     * none): piped /add lines are all sent before the first answer, so
     * every pair whose answers may still come is kept. */
    struct {
        uint32_t fl_trid, al_trid;
        int fl_code;
    } adds[MSNC_MAX_REQUESTS];
    unsigned adds_next;
    msnp_imformat fmt;
    int has_fmt;
    struct event *stdin_ev;
    uint64_t last_progress_ms;
    int bar_lines;         /* progress lines just above the prompt, one per transfer */
    int in_line_handler;   /* libedit redraws the prompt itself afterwards */
    int prompt_shown;      /* interactive: the prompt and the line being typed are on the screen */
    int input_empty;       /* the prompt was drawn anew: rl_line_buffer still holds the last line */
    int stdin_polled;      /* stdin cannot be watched (regular file, /dev/null): read it on a timer */
    int stdin_paused;      /* batch commands wait until logged in and synced (stdin is still read) */
    int reconnect_pending; /* a reconnecting event followed the last disconnect */
    int line_refused;      /* a message_failed came while the line typed was sent */
    struct event *stdin_poll;
    struct event *input_ev;       /* runs input held back (not logged in, chats full) when that ends */
    struct event *eof_offline_ev; /* the end of input came while not logged in: login_timeout */
    int tty_paced;                /* interactive: the terminal is not read while the chats hold many lines */
    int eof_handled;              /* the end of input has been acted on */
    uint64_t quit_started_ms;
    uint64_t last_answer_ms; /* the last ACK, NAK or refusal of a line sent */
} app;

/* config.c */
void config_defaults(app_config *c);
int config_load_ini(app_config *c, const char *path, char *err, size_t errcap);
int config_resolve_password(app_config *c, int interactive, char *err, size_t errcap);
int parse_port_range(const char *s, uint16_t *first, uint16_t *last);
/* The server as msnc dials it: 0 for HOST or HOST:PORT (port 1 to 65535,
 * an IPv6 address in brackets), -1 for another form, -2 for an IPv6
 * address without its brackets (its last ':' would be read as the port). */
int config_server_check(const char *s);
/* Largest number of seconds a timeout takes (its milliseconds fit an unsigned). */
#define MSNC_MAX_SECONDS 4294967u
/* s as a whole decimal number from min to max: digits only, no sign, no
 * space, nothing after them. -1 otherwise. */
int parse_number(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out);
/* The same for option name: on a bad value says so on stderr, -1. */
int parse_number_opt(const char *name, const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out);
/* s whole into dst (cap bytes with its NUL) for option name: when it does
 * not fit, says so on stderr and returns -1 (a value is never cut). */
int parse_text_opt(const char *name, const char *s, char *dst, size_t cap);

/* commands.c */
void command_run(app *a, const char *line);
void app_quit(app *a, int code);

/* output.c */
void out_event(app *a, const msnc_event *ev);
void out_error(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_info(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_contact(app *a, const char *list, const char *email, const char *name, const char *status);
void out_chat(app *a, int chat, const char *participants, const char *state, int current); /* batch */
void out_json_kv(app *a, const char *event, ...); /* key, value (const char*), ..., NULL */
uint64_t now_ms(void);
/* output.c: line was handed over by libedit (the cursor is on the row
 * below it): the progress lines above it go, line is shown in their place. */
void tty_line_accepted(app *a, const char *line);

/* main.c: "msnc [sub] 0.1.0 (libmsnp 0.1.0)" for --version; sub names a sub-command or is NULL. */
void print_version(const char *sub);
/* main.c: batch input waits until the login just started is complete
 * (the lines after /login run as the lines piped before the first one). */
void input_hold_for_login(app *a);

/* ftptool.c */
int ftptool_main(int argc, char **argv);

#endif
