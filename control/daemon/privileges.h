// tern run's least privilege: once started (the EAL, the ports and their
// TAPs, the BGP listener, the HTTP API and the console bound), the process
// keeps only the capabilities its running needs (kRunCapabilities) and sets
// no_new_privs, in every thread: capabilities belong to threads, and the EAL
// started its lcores and its own threads long before. docs/operations.md,
// "Privileges", says what each kept one is for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tern::ctl {

// A capability tern run keeps, and why.
struct KeptCapability {
    int cap;           // CAP_NET_ADMIN, ...
    const char* name;  // "cap_net_admin", as capabilities(7) and /proc name them
    const char* why;
};

// The capabilities a running tern still uses (the reasons are in the table).
const std::vector<KeptCapability>& run_capabilities();

// One thread's sets, from /proc/self/task/TID/status.
struct ThreadPrivileges {
    int tid = 0;
    uint64_t effective = 0, permitted = 0, inheritable = 0, bounding = 0, ambient = 0;
    bool no_new_privs = false;
};
// Every thread of this process; empty when /proc cannot be read.
std::vector<ThreadPrivileges> thread_privileges();

// Drops from every thread of the process every capability not in
// run_capabilities() (effective, permitted, inheritable, ambient and
// bounding sets) and sets PR_SET_NO_NEW_PRIVS: this thread directly, each
// other one through a signal whose handler does the same (as glibc's setuid
// reaches all threads). Then reads every thread's sets back. Control thread
// only, once start-up is over. Returns the line to log; `ok` is false when a
// thread kept more than it should.
struct DropResult {
    bool ok = false;
    std::string message;
};
DropResult drop_privileges();

// "cap_net_admin,cap_kill" for a mask; "none" when empty.
std::string capability_names(uint64_t mask);

}  // namespace tern::ctl
