/* The boundary between the console's C command table (console_cmds.c) and
 * control (console.cpp). */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

struct cmdline;
struct cmdline_inst;

enum { TERN_NAMES_SERVICE = 0, TERN_NAMES_HOST = 1 };

/* The instance table for cmdline_new(). */
struct cmdline_inst** tern_console_ctx(void);
/* Runs one command (its words) for the session of `cl`. */
void tern_console_exec(struct cmdline* cl, const char* const* words, int n);
/* idx < 0: how many names of `kind`; else copies name idx into dst (0, or -1 if none). */
int tern_console_names(int kind, int idx, char* dst, unsigned size);

#ifdef __cplusplus
}
#endif
