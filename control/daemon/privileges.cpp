#include "control/daemon/privileges.h"

#include <dirent.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace tern::ctl {
namespace {

// capabilities(7)'s names, by number.
constexpr const char* kNames[] = {
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
};

// The kernel's highest capability number.
int last_cap() {
    std::ifstream f("/proc/sys/kernel/cap_last_cap");
    int n = CAP_LAST_CAP;
    if (!(f >> n) || n < 0 || n > 63) n = CAP_LAST_CAP;
    return n;
}

// What the handler on the other threads applies, and how they did. Written
// by the control thread before the signals go out.
uint64_t g_keep = 0;
int g_last_cap = CAP_LAST_CAP;
std::atomic<unsigned> g_done{0};
std::atomic<int> g_error{0};

// This thread's sets down to `keep`, and no_new_privs. System calls only
// (it runs in a signal handler): 0 or the errno of what failed.
int drop_this_thread(uint64_t keep, int last) {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which
    // goes with the rest below. Without it (not started as root) the
    // bounding set stays; no_new_privs still keeps an exec from gaining.
    for (int cap = 0; cap <= last; ++cap) {
        if ((keep >> cap) & 1) continue;
        if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EPERM) break;
            return errno;
        }
    }
    // Ambient capabilities would survive an exec; there should be none.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return errno;
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) return errno;
    for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
        const auto k = static_cast<uint32_t>(keep >> (32 * i));
        data[i].permitted &= k;
        data[i].effective = data[i].permitted;
        data[i].inheritable = 0;
    }
    if (::syscall(SYS_capset, &header, data) != 0) return errno;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
    return 0;
}

void on_drop_signal(int) {
    const int saved = errno;
    if (const int e = drop_this_thread(g_keep, g_last_cap); e != 0) {
        int none = 0;
        g_error.compare_exchange_strong(none, e);
    }
    g_done.fetch_add(1);
    errno = saved;
}

std::vector<int> task_ids() {
    std::vector<int> out;
    DIR* d = ::opendir("/proc/self/task");
    if (d == nullptr) return out;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(std::atoi(e->d_name));
    }
    ::closedir(d);
    return out;
}

uint64_t hex(const std::string& s) { return std::strtoull(s.c_str(), nullptr, 16); }

}  // namespace

const std::vector<KeptCapability>& run_capabilities() {
    static const std::vector<KeptCapability> kKept{
        {CAP_NET_ADMIN, "cap_net_admin",
         "the exception path's TAPs: addresses on reload, managed neighbour entries, their removal at the stop"},
        {CAP_NET_BIND_SERVICE, "cap_net_bind_service",
         "a reload that moves the HTTP API or the BGP listener to a port below 1024 (179)"},
        {CAP_SETUID, "cap_setuid", "RunCommand's commands run as their user (nobody by default)"},
        {CAP_SETGID, "cap_setgid", "RunCommand's commands get their user's group and groups"},
        {CAP_KILL, "cap_kill", "a RunCommand timeout kills the command's process group, another user's"},
    };
    return kKept;
}

std::string capability_names(uint64_t mask) {
    std::string out;
    for (int cap = 0; cap < 64; ++cap) {
        if (((mask >> cap) & 1) == 0) continue;
        if (!out.empty()) out += ',';
        out += cap < static_cast<int>(std::size(kNames)) ? std::string(kNames[cap]) : fmt::format("cap_{}", cap);
    }
    return out.empty() ? "none" : out;
}

std::vector<ThreadPrivileges> thread_privileges() {
    std::vector<ThreadPrivileges> out;
    for (int tid : task_ids()) {
        std::ifstream f(fmt::format("/proc/self/task/{}/status", tid));
        if (!f) continue;
        ThreadPrivileges t;
        t.tid = tid;
        std::string line;
        while (std::getline(f, line)) {
            std::istringstream in(line);
            std::string key, value;
            in >> key >> value;
            if (key == "CapInh:") t.inheritable = hex(value);
            if (key == "CapPrm:") t.permitted = hex(value);
            if (key == "CapEff:") t.effective = hex(value);
            if (key == "CapBnd:") t.bounding = hex(value);
            if (key == "CapAmb:") t.ambient = hex(value);
            if (key == "NoNewPrivs:") t.no_new_privs = value == "1";
        }
        out.push_back(t);
    }
    return out;
}

DropResult drop_privileges() {
    uint64_t wanted = 0;
    for (const auto& k : run_capabilities()) wanted |= uint64_t{1} << k.cap;
    g_last_cap = last_cap();
    g_keep = wanted;
    g_done.store(0);
    g_error.store(0);

    // The handler first, on a real-time signal nothing else uses; it stays
    // (its default action would end the process if one came late).
    // SA_RESTART: the EAL's threads sit in accept() and read().
    const int sig = SIGRTMIN + 4;
    struct sigaction sa {};
    sa.sa_handler = on_drop_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (::sigaction(sig, &sa, nullptr) != 0) {
        return {false, fmt::format("privileges: cannot install the signal handler: {}", std::strerror(errno))};
    }
    const int self = static_cast<int>(::syscall(SYS_gettid));
    if (const int e = drop_this_thread(wanted, g_last_cap); e != 0) {
        return {false, fmt::format("privileges: cannot drop capabilities: {}", std::strerror(e))};
    }
    // Every other thread, until a look at /proc finds none new (a thread
    // started meanwhile by one not yet reached copies its creator's sets).
    std::set<int> reached{self};
    unsigned sent = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (bool fresh = true; fresh;) {
        fresh = false;
        for (int tid : task_ids()) {
            if (!reached.insert(tid).second) continue;
            if (::syscall(SYS_tgkill, ::getpid(), tid, sig) == 0) {
                ++sent;
                fresh = true;
            }
        }
        while (g_done.load() < sent && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    // What every thread holds now.
    std::vector<ThreadPrivileges> threads = thread_privileges();
    unsigned over = 0;
    bool bounding = true;
    std::string which;
    for (const auto& t : threads) {
        if ((t.effective | t.permitted | t.inheritable | t.ambient) & ~wanted || !t.no_new_privs) {
            ++over;
            which += fmt::format(" {}", t.tid);
        }
        if (t.bounding & ~wanted) bounding = false;
    }
    uint64_t kept = 0;
    for (const auto& t : threads) kept |= t.permitted;
    std::string msg = fmt::format(
        "privileges: kept {} (effective, permitted and bounding sets) in {} threads, every other capability "
        "dropped; no_new_privs set",
        capability_names(kept), threads.size());
    if (const int e = g_error.load(); e != 0) msg += fmt::format("; a thread failed: {}", std::strerror(e));
    if (g_done.load() < sent) msg += fmt::format("; {} of {} threads did not answer", sent - g_done.load(), sent);
    if (over > 0) msg += fmt::format("; threads holding more:{}", which);
    if (!bounding) msg += "; the bounding set could not be reduced (no cap_setpcap)";
    return {over == 0 && g_error.load() == 0 && !threads.empty(), msg};
}

}  // namespace tern::ctl
