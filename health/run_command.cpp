// RunCommand: runs a program every `interval` and calls the server up when it
// exits 0 (PyBal's runcommand.py). The program runs in its own session, so
// its process group is the program and everything it starts; a timeout kills
// that whole group, and so does the end of the leader (leftover children).
// No shell: `command` is executed with `arguments` as its argv. Its
// environment is PyBal's empty one, but for a standard PATH. It runs as
// `user` (default nobody, with that user's groups): root only when a config
// says `user: root` (docs/operations.md, "Privileges").
//
// The exit is learnt through a pidfd (Linux 5.3) that Asio watches, the
// output through a pipe Asio reads: nothing blocks the io_context thread.
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "health/monitor.h"
#include "health/monitor_kind.h"

namespace tern::health {

namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

constexpr size_t kMaxLine = 1000;           // a longer line is logged in pieces
constexpr size_t kMaxLoggedPerRun = 16384;  // output beyond this is read and dropped
constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// SIGKILL to the process group `group`. Never to our own group or, through
// a bad id, to every process (-1) or init.
int kill_group(pid_t group) {
    if (group <= 1) return EINVAL;
    return ::kill(-group, SIGKILL) == 0 ? 0 : errno;
}

std::string escape(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += ch;
        }
    }
    return out;
}

// Whom the command runs as: the user's ids and groups, looked up when the
// monitor is made (NSS is no business of the child).
struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    bool change = false;  // not the process's own ids: the child switches
};

// `user`'s credentials, or why there are none.
std::optional<Credentials> credentials(const std::string& user, std::string& error) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    const int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (found == nullptr) {
        error = rc != 0 ? fmt::format("user '{}': {}", user, std::strerror(rc)) : fmt::format("no user '{}'", user);
        return std::nullopt;
    }
    Credentials c;
    c.uid = pw.pw_uid;
    c.gid = pw.pw_gid;
    int n = 64;
    for (int tries = 0; tries < 4; ++tries) {
        c.groups.resize(static_cast<size_t>(n));
        const int want = n;
        if (::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n) >= 0) break;
        if (n <= want) n = want * 4;
    }
    c.groups.resize(static_cast<size_t>(std::max(n, 0)));
    c.change = c.uid != ::geteuid() || c.gid != ::getegid();
    return c;
}

std::vector<std::string> check_user(const OptionValue& v) {
    std::string error;
    if (!credentials(std::get<std::string>(v), error)) return {error};
    return {};
}

// What the child reads and writes: it shares our memory until its exec.
struct Child {
    char* const* argv;
    char* const* envp;
    int out_fd;
    const Credentials* cred;
    int error = 0;  // the errno of what failed before or at the exec
};

// The child, on the stack spawn() gave it, sharing the parent's memory
// (CLONE_VM) until it execs: system calls only, nothing of glibc that locks
// or allocates. Raw setgroups/setresgid/setresuid: glibc's wrappers would
// signal the parent's threads to change theirs too.
int child_main(void* arg) {
    auto* c = static_cast<Child*>(arg);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // glibc's own ones refuse: fine
    auto fail = [c](int e) {
        c->error = e;
        ::_exit(127);
        return 0;
    };
    if (::setsid() < 0) return fail(errno);
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in < 0 || ::dup2(null_in, 0) < 0) return fail(errno);
    if (c->out_fd >= 0) {
        if (::dup2(c->out_fd, 1) < 0) return fail(errno);
    } else {
        const int null_out = ::open("/dev/null", O_WRONLY);
        if (null_out < 0 || ::dup2(null_out, 1) < 0) return fail(errno);
    }
    if (::dup2(1, 2) < 0) return fail(errno);
    // Not every fd of the process is O_CLOEXEC (Asio's sockets are not).
    ::closefrom(3);
    if (c->cred->change) {
        const Credentials& k = *c->cred;
        if (::syscall(SYS_setgroups, k.groups.size(), k.groups.data()) != 0) return fail(errno);
        if (::syscall(SYS_setresgid, k.gid, k.gid, k.gid) != 0) return fail(errno);
        if (::syscall(SYS_setresuid, k.uid, k.uid, k.uid) != 0) return fail(errno);
        // The daemon's working directory may be closed to the user.
        if (::chdir("/") != 0) return fail(errno);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(c->argv[0], c->argv, c->envp);
    return fail(errno);
}

// Starts `argv` as `cred` in a new session with stdin /dev/null and stdout
// and stderr to `out_fd` (or /dev/null when -1), and only fds 0-2 open.
// Returns 0 or the errno of the failure, exec's included (then reaped).
// As posix_spawn does it: a child sharing our memory and stopping us until
// its exec (CLONE_VFORK), every signal blocked meanwhile so that no handler
// of ours runs in it; posix_spawn has no way to set the ids.
int spawn(const std::vector<std::string>& argv, int out_fd, const Credentials& cred, pid_t& pid) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* envp[] = {const_cast<char*>(kPath), nullptr};
    Child c{args.data(), envp, out_fd, &cred};
    constexpr size_t kStack = 64 * 1024;
    std::vector<char> stack(kStack);
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    pid = ::clone(child_main, stack.data() + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    const int clone_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return clone_errno;
    if (c.error != 0) {
        ::waitpid(pid, nullptr, 0);
        pid = -1;
        return c.error;
    }
    return 0;
}

class RunCommand final : public Monitor {
public:
    RunCommand(asio::io_context& io, const MonitorSpec& spec, Target target, Report report)
        : Monitor(io, spec, std::move(target), std::move(report)), timer_(io), deadline_(io) {
        cred_ = credentials(user_, cred_error_);
    }
    ~RunCommand() override { kill_running(); }

    void start() override { schedule(); }

private:
    void on_stop() override {
        timer_.cancel();
        deadline_.cancel();
        kill_running();
    }

    void schedule() {
        after(timer_, spec_.interval, [this] { run(); });
    }

    void run() {
        ++run_;
        exited_ = timed_out_ = false;
        status_ = 0;
        line_.clear();
        logged_ = 0;
        started_ = std::chrono::steady_clock::now();
        std::vector<std::string> argv{command_};
        for (const auto& a : arguments_) argv.push_back(substitute(a, target_));

        int out[2] = {-1, -1};
        if (log_output_ && ::pipe2(out, O_CLOEXEC) != 0) {
            finish(false, fmt::format("cannot run {}: pipe: {}", command_, std::strerror(errno)), "None");
            return;
        }
        if (!cred_) {
            // The user went away since the config was checked.
            if (out[0] >= 0) ::close(out[0]);
            if (out[1] >= 0) ::close(out[1]);
            finish(false, fmt::format("cannot run {}: {}", command_, cred_error_), "None");
            return;
        }
        pid_t pid = -1;
        const int rc = spawn(argv, out[1], *cred_, pid);
        if (out[1] >= 0) ::close(out[1]);
        if (rc != 0) {
            if (out[0] >= 0) ::close(out[0]);
            finish(false, fmt::format("cannot run {}: {}", command_, std::strerror(rc)), "None");
            return;
        }
        // Race-free: the child stays ours (unreaped, its pid not reusable) until we wait for it.
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        if (pidfd < 0) {
            const int e = errno;
            kill_group(pid);
            ::waitpid(pid, nullptr, 0);  // killed: returns at once; only on kernels before 5.3
            if (out[0] >= 0) ::close(out[0]);
            finish(
                false,
                fmt::format("cannot watch {}: pidfd_open: {} (needs Linux 5.3 or later)", command_, std::strerror(e)),
                "None");
            return;
        }
        pid_ = pid;
        pidfd_.emplace(io_, pidfd);
        wait_exit();
        if (out[0] >= 0) {
            out_.emplace(io_, out[0]);
            read_output();
        }
        after(deadline_, spec_.timeout, [this, run = run_] {
            if (run == run_) on_deadline();
        });
    }

    void wait_exit() {
        pidfd_->async_wait(
            Descriptor::wait_read, guard([this, run = run_](const boost::system::error_code& ec) {
                if (ec || run != run_ || pid_ < 0) return;
                int status = 0;
                const pid_t r = ::waitpid(pid_, &status, WNOHANG);
                if (r == 0) {  // not yet: cannot happen once the pidfd is readable, but harmless
                    wait_exit();
                    return;
                }
                const pid_t group = pid_;
                pid_ = -1;
                pidfd_.reset();
                exited_ = true;
                status_ = r == group ? status : -1;
                // The group id stays taken while any member lives, so this cannot
                // hit strangers. After a timeout the group was killed already.
                const int err = kill_group(group);
                if (err == 0) {
                    if (!timed_out_) log(fmt::format("command {} left processes behind; killed them", command_));
                } else if (err == EPERM) {
                    log(fmt::format("command {} left processes behind; could not kill them all", command_));
                }
                maybe_finish();
            }));
    }

    void read_output() {
        out_->async_read_some(asio::buffer(buf_),
                              guard([this, run = run_](const boost::system::error_code& ec, size_t n) {
                                  if (run != run_ || !out_) return;
                                  consume(std::string_view(buf_.data(), n));
                                  if (ec) {  // end of file: every writer gone; or a read error
                                      close_output();
                                      maybe_finish();
                                      return;
                                  }
                                  read_output();
                              }));
    }

    void consume(std::string_view data) {
        for (const char c : data) {
            if (c == '\n') {
                emit_line();
                continue;
            }
            line_ += c;
            if (line_.size() >= kMaxLine) emit_line();
        }
    }

    void emit_line() {
        if (logged_ < kMaxLoggedPerRun) {
            log("Cmd stdout: " + escape(line_));
            logged_ += line_.size() + 1;
            if (logged_ >= kMaxLoggedPerRun) log("Cmd stdout: (more output is not logged)");
        }
        line_.clear();
    }

    void close_output() {
        if (!line_.empty()) emit_line();
        out_.reset();
    }

    void on_deadline() {
        if (!exited_) {
            timed_out_ = true;
            kill_group(pid_);
        } else if (out_) {
            log(
                fmt::format("command {} exited but its output is still open after {:g} s (a process left its group?); "
                            "no longer reading it",
                            command_, spec_.timeout));
        }
        close_output();
        maybe_finish();  // after a kill, once the leader is reaped
    }

    void maybe_finish() {
        if (!exited_ || out_) return;
        if (timed_out_) {
            finish(false, fmt::format("timed out after {:g} s", spec_.timeout), "None");
        } else if (status_ < 0) {
            finish(false, "exit status unknown: the process was reaped elsewhere", "None");
        } else if (WIFEXITED(status_)) {
            const int code = WEXITSTATUS(status_);
            finish(code == 0, fmt::format("exit status {}", code), std::to_string(code));
        } else if (WIFSIGNALED(status_)) {
            finish(false, fmt::format("killed by signal {}", WTERMSIG(status_)), "None");
        } else {
            finish(false, fmt::format("ended with wait status {:#x}", status_), "None");
        }
    }

    // `exitcode`: PyBal's label, the exit status or "None" (no exit: killed,
    // timed out, unknown).
    void finish(bool ok, const std::string& reason, const std::string& exitcode) {
        deadline_.cancel();
        ++run_;  // a late completion of this run (an expired deadline) finds nothing to do
        if (!ok) log(fmt::format("command {} failed: {}", command_, reason));
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        note_duration({{"result", ok ? "successful" : "failed"}, {"exitcode", exitcode}}, took);
        result(ok, reason, took);
        if (active()) schedule();
    }

    // Kills a running command's group and reaps its leader, now or, when the
    // kill has not landed yet, from a completion that outlives this monitor.
    void kill_running() {
        out_.reset();
        if (pid_ < 0) return;
        const pid_t pid = pid_;
        pid_ = -1;
        kill_group(pid);
        if (::waitpid(pid, nullptr, WNOHANG) == 0 && pidfd_) {
            pidfd_->cancel();
            auto fd = std::make_shared<Descriptor>(std::move(*pidfd_));
            fd->async_wait(Descriptor::wait_read,
                           [fd, pid](const boost::system::error_code&) { ::waitpid(pid, nullptr, WNOHANG); });
        }
        pidfd_.reset();
    }

    asio::steady_timer timer_;     // the next run
    asio::steady_timer deadline_;  // the running command's timeout
    std::optional<Descriptor> pidfd_;
    std::optional<Descriptor> out_;  // the read end of its stdout and stderr
    pid_t pid_ = -1;                 // the running command (its group's id), until reaped
    int status_ = 0;                 // its wait status, -1 when unknown
    bool exited_ = false;
    bool timed_out_ = false;
    // The options (the table below); {host}, {ip}, {port}, {service} in
    // arguments are replaced.
    const std::string command_ = spec_.get<std::string>("command");
    const std::vector<std::string> arguments_ = spec_.get<std::vector<std::string>>("arguments");
    const bool log_output_ = spec_.get<bool>("log-output");
    const std::string user_ = spec_.get<std::string>("user");
    std::optional<Credentials> cred_;
    std::string cred_error_;
    uint64_t run_ = 0;  // tells this run's completions from an earlier one's
    std::chrono::steady_clock::time_point started_;
    std::array<char, 4096> buf_{};
    std::string line_;  // output not yet logged: a line without its newline
    size_t logged_ = 0;
};

}  // namespace

namespace {

std::unique_ptr<Monitor> make(boost::asio::io_context& io, const MonitorSpec& spec, Target target, Report report) {
    return std::make_unique<RunCommand>(io, spec, std::move(target), std::move(report));
}

}  // namespace

const MonitorKind& run_command_kind() {
    using T = OptionType;
    static const MonitorKind kKind{
        "RunCommand",
        {
            {"command", T::str, 0, 0, std::string(), true},
            {"arguments", T::str_list, 0, 0, std::vector<std::string>{}},
            {"interval", T::real, 0.01, 86400, 60.0},
            {"timeout", T::real, 0.01, 3600, 20.0},
            {"log-output", T::boolean, 0, 0, true},
            // Whom the command runs as; root only when named.
            {"user", T::str, 0, 0, std::string("nobody"), false, check_user},
        },
        nullptr,
        make,
    };
    return kKind;
}

}  // namespace tern::health
