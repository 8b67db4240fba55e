/* The console's command table for DPDK's rte_cmdline, in C as testpmd's is
 * (rte_cmdline's instances end in a flexible array that C++ cannot
 * initialise). Every instance hands its words to tern_console_exec()
 * (console.cpp), which runs the command through control; the instances are
 * here for tab completion and '?' help. The last instance takes any line,
 * so a mistyped command is answered by control, naming the bad word,
 * instead of rte_cmdline's bare "Bad arguments". */
/* cmdline_parse_check() is still marked experimental in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API 1
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmdline.h>
#include <cmdline_parse.h>
#include <cmdline_parse_string.h>

#include "control/console_cmds.h"

struct words {
    cmdline_fixed_string_t w[6];
};

struct line {
    cmdline_multi_string_t text;
};

static void words_cb(void* parsed, struct cmdline* cl, void* data) {
    struct words* r = parsed;
    const char* argv[6];
    int n = (int)(intptr_t)data;
    for (int i = 0; i < n; ++i) argv[i] = r->w[i];
    tern_console_exec(cl, argv, n);
}

static void line_cb(void* parsed, struct cmdline* cl, void* data) {
    (void)data;
    struct line* r = parsed;
    const char* argv[32];
    int n = 0;
    char* save = NULL;
    for (char* t = strtok_r(r->text, " \t", &save); t != NULL && n < 32; t = strtok_r(NULL, " \t", &save)) argv[n++] = t;
    tern_console_exec(cl, argv, n);
}

/* Names known to the running daemon, completed with TAB. */
static int name_parse(cmdline_parse_token_hdr_t* tk, const char* buf, void* res, unsigned size) {
    return cmdline_token_string_ops.parse(tk, buf, res, size);
}
static int service_nb(cmdline_parse_token_hdr_t* tk) {
    (void)tk;
    return tern_console_names(TERN_NAMES_SERVICE, -1, NULL, 0);
}
static int service_elt(cmdline_parse_token_hdr_t* tk, int idx, char* dst, unsigned size) {
    (void)tk;
    return tern_console_names(TERN_NAMES_SERVICE, idx, dst, size);
}
static int host_nb(cmdline_parse_token_hdr_t* tk) {
    (void)tk;
    return tern_console_names(TERN_NAMES_HOST, -1, NULL, 0);
}
static int host_elt(cmdline_parse_token_hdr_t* tk, int idx, char* dst, unsigned size) {
    (void)tk;
    return tern_console_names(TERN_NAMES_HOST, idx, dst, size);
}
static int service_help(cmdline_parse_token_hdr_t* tk, char* dst, unsigned size) {
    (void)tk;
    snprintf(dst, size, "SERVICE");
    return 0;
}
static int host_help(cmdline_parse_token_hdr_t* tk, char* dst, unsigned size) {
    (void)tk;
    snprintf(dst, size, "HOST");
    return 0;
}
static struct cmdline_token_ops service_ops = {name_parse, service_nb, service_elt, service_help};
static struct cmdline_token_ops host_ops = {name_parse, host_nb, host_elt, host_help};

#define WORD(i, s) TOKEN_STRING_INITIALIZER(struct words, w[i], s)
#define SERVICE(i) {.hdr = {.ops = &service_ops, .offset = offsetof(struct words, w[i])}, .string_data = {.str = NULL}}
#define HOST(i) {.hdr = {.ops = &host_ops, .offset = offsetof(struct words, w[i])}, .string_data = {.str = NULL}}

static cmdline_parse_token_string_t t_show = WORD(0, "show");
static cmdline_parse_token_string_t t_show_plain = WORD(1, "services#pools#flows#bgp#alerts#config#stats#capture");
static cmdline_parse_token_string_t t_show_service = WORD(1, "service");
static cmdline_parse_token_string_t t_show_stats = WORD(1, "stats");
static cmdline_parse_token_string_t t_stats_kind = WORD(2, "port#lcore#service");
static cmdline_parse_token_string_t t_svc2 = SERVICE(2);
static cmdline_parse_token_string_t t_pool = WORD(0, "pool#depool");
static cmdline_parse_token_string_t t_host1 = HOST(1);
static cmdline_parse_token_string_t t_svc2b = SERVICE(2);
static cmdline_parse_token_string_t t_set = WORD(0, "set");
static cmdline_parse_token_string_t t_weight = WORD(1, "weight");
static cmdline_parse_token_string_t t_host3 = HOST(3);
static cmdline_parse_token_string_t t_any4 = WORD(4, NULL);
static cmdline_parse_token_string_t t_any5 = WORD(5, NULL);
static cmdline_parse_token_string_t t_add = WORD(0, "add");
static cmdline_parse_token_string_t t_del = WORD(0, "del");
static cmdline_parse_token_string_t t_realserver = WORD(1, "realserver");
static cmdline_parse_token_string_t t_any3 = WORD(3, NULL);
static cmdline_parse_token_string_t t_any2 = WORD(2, NULL);
static cmdline_parse_token_string_t t_single = WORD(0, "reload#quit#help");
static cmdline_parse_token_string_t t_capture = WORD(0, "capture");
static cmdline_parse_token_string_t t_capture_start = WORD(1, "start");
static cmdline_parse_token_string_t t_capture_stop = WORD(1, "stop");
/* The catch-all takes a line only when no command above takes it whole (else
 * rte_cmdline would call the line ambiguous): it asks a hidden cmdline that
 * knows only those commands. */
static struct cmdline* checker;
static int line_parse(cmdline_parse_token_hdr_t* tk, const char* buf, void* res, unsigned size) {
    if (checker != NULL) {
        char copy[STR_MULTI_TOKEN_SIZE + 2];
        snprintf(copy, sizeof(copy), "%s\n", buf);
        if (cmdline_parse_check(checker, copy) >= 0) return -1;  /* it returns the line length on a match */
    }
    return cmdline_token_string_ops.parse(tk, buf, res, size);
}
static int line_nb(cmdline_parse_token_hdr_t* tk) {
    (void)tk;
    return 0;
}
static int line_help(cmdline_parse_token_hdr_t* tk, char* dst, unsigned size) {
    (void)tk;
    snprintf(dst, size, "...");
    return 0;
}
static struct cmdline_token_ops line_ops = {line_parse, line_nb, NULL, line_help};
static cmdline_parse_token_string_t t_line = {
    .hdr = {.ops = &line_ops, .offset = offsetof(struct line, text)}, .string_data = {.str = TOKEN_STRING_MULTI}};

#define INST(name, n, help, ...) \
    static cmdline_parse_inst_t name = {.f = words_cb, .data = (void*)(intptr_t)(n), .help_str = help, .tokens = {__VA_ARGS__, NULL}}

INST(c_show, 2, "show services|pools|flows|bgp|alerts|config|stats|capture", (void*)&t_show, (void*)&t_show_plain);
INST(c_show_service, 3, "show service NAME: one service, its servers and their health", (void*)&t_show,
     (void*)&t_show_service, (void*)&t_svc2);
INST(c_show_stats, 3, "show stats port|lcore|service", (void*)&t_show, (void*)&t_show_stats, (void*)&t_stats_kind);
INST(c_pool, 2, "pool|depool HOST: enable or disable a server in every service that has it", (void*)&t_pool,
     (void*)&t_host1);
INST(c_pool_svc, 3, "pool|depool HOST SERVICE: enable or disable a server in one service", (void*)&t_pool,
     (void*)&t_host1, (void*)&t_svc2b);
INST(c_set_weight, 5, "set weight SERVICE HOST N: a server's weight (0..65535)", (void*)&t_set, (void*)&t_weight,
     (void*)&t_svc2, (void*)&t_host3, (void*)&t_any4);
INST(c_add, 5, "add realserver SERVICE HOST IP: add a server (until the next reload)", (void*)&t_add,
     (void*)&t_realserver, (void*)&t_svc2, (void*)&t_any3, (void*)&t_any4);
INST(c_add_w, 6, "add realserver SERVICE HOST IP WEIGHT", (void*)&t_add, (void*)&t_realserver, (void*)&t_svc2,
     (void*)&t_any3, (void*)&t_any4, (void*)&t_any5);
INST(c_del, 4, "del realserver SERVICE HOST: remove a server (until the next reload)", (void*)&t_del,
     (void*)&t_realserver, (void*)&t_svc2, (void*)&t_host3);
INST(c_capture, 4, "capture start PORT|all FILE [COUNT [FILTER...]]: packets into a pcapng file", (void*)&t_capture,
     (void*)&t_capture_start, (void*)&t_any2, (void*)&t_any3);
INST(c_capture_n, 5, "capture start PORT|all FILE COUNT [FILTER...]", (void*)&t_capture, (void*)&t_capture_start,
     (void*)&t_any2, (void*)&t_any3, (void*)&t_any4);
INST(c_capture_stop, 2, "capture stop: stop the capture and close its file", (void*)&t_capture, (void*)&t_capture_stop);
INST(c_single, 1, "reload: re-read the config | quit: leave | help: the commands", (void*)&t_single);
static cmdline_parse_inst_t c_line = {
    .f = line_cb, .data = NULL, .help_str = "anything else: answered with what is wrong", .tokens = {(void*)&t_line, NULL}};

static cmdline_parse_ctx_t tern_ctx[] = {
    &c_show, &c_show_service, &c_show_stats, &c_pool, &c_pool_svc, &c_set_weight, &c_add, &c_add_w, &c_del,
    &c_capture, &c_capture_n, &c_capture_stop, &c_single, &c_line, NULL,
};
/* The same without the catch-all, for the checker. */
static cmdline_parse_ctx_t known_ctx[] = {
    &c_show, &c_show_service, &c_show_stats, &c_pool, &c_pool_svc, &c_set_weight, &c_add, &c_add_w, &c_del,
    &c_capture, &c_capture_n, &c_capture_stop, &c_single, NULL,
};

cmdline_parse_ctx_t* tern_console_ctx(void) {
    if (checker == NULL) {
        int fds[2];
        /* Its prompt and output go nowhere: a pipe nobody reads, closed at once. */
        if (pipe(fds) == 0) {
            checker = cmdline_new(known_ctx, "", fds[0], fds[1]);
            close(fds[0]);
        }
    }
    return tern_ctx;
}
