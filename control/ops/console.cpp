#include "control/ops/console.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cmdline.h>
#include <cmdline_socket.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "control/ops/cmdline_table.h"
#include "control/ops/console_commands.h"

namespace tern::ctl {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// Writes all of `text` to `fd`, waiting (at most 5 s in all) while a slow
// reader's socket is full: rte_cmdline writes its echo and prompt straight
// to the fd, so command output must be there before them.
void write_all(int fd, const std::string& text) {
    size_t off = 0;
    int waited_ms = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waited_ms < 5000) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 100);
            waited_ms += 100;
            continue;
        }
        return;  // the reader is gone or stuck: drop the rest
    }
}

// rte_cmdline wants "\r\n" on a terminal in non-canonical mode.
std::string crlf(const std::string& text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

}  // namespace

struct Session {
    cmdline* cl = nullptr;
    int out_fd = -1;
    bool quit = false;
    bool terminal = false;  // the process's own terminal
};

struct Console::Impl {
    asio::io_context& io;
    Operable& target;
    const CommandRegistry& commands = console_commands();
    // The commands' instances for rte_cmdline; they call exec().
    CmdlineTable table{commands, [this](cmdline* cl, const std::vector<std::string>& words) { exec(cl, words); },
                       [this](Token::Names kind) { return names(kind); }};
    std::function<void()> on_quit_interactive;
    std::unique_ptr<local::acceptor> acceptor;
    std::string path;
    std::map<cmdline*, std::shared_ptr<Session>> sessions;
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
    // The terminal session.
    std::unique_ptr<asio::posix::stream_descriptor> tty_in;
    cmdline* tty_cl = nullptr;

    Impl(asio::io_context& i, Operable& t, std::function<void()> q)
        : io(i), target(t), on_quit_interactive(std::move(q)) {}
    // Runs one command for the session of `cl`.
    void exec(cmdline* cl, const std::vector<std::string>& words);
    // The running services' or hosts' names, for TAB.
    std::vector<std::string> names(Token::Names kind) const;
    void accept();
    void read(std::shared_ptr<local::socket> sock, std::shared_ptr<Session> s, std::shared_ptr<std::vector<char>> buf);
    void close(const std::shared_ptr<Session>& s);
    void read_tty(std::shared_ptr<std::vector<char>> buf);
};

void Console::Impl::exec(cmdline* cl, const std::vector<std::string>& words) {
    auto it = sessions.find(cl);
    if (it == sessions.end()) return;
    auto s = it->second;
    const CommandResult r = commands.run(target, words);
    if (!r.out.empty()) write_all(s->out_fd, crlf(r.out));
    if (r.quit) {
        s->quit = true;
        cmdline_quit(cl);
    }
}

std::vector<std::string> Console::Impl::names(Token::Names kind) const {
    const auto& services = target.state().pools().services();
    std::vector<std::string> out;
    if (kind == Token::Names::service) {
        for (const auto& [name, pool] : services) out.push_back(name);
        return out;
    }
    std::set<std::string> hosts;
    for (const auto& [name, pool] : services) {
        for (const auto& [h, s] : pool.servers()) hosts.insert(h);
    }
    return {hosts.begin(), hosts.end()};
}

void Console::Impl::close(const std::shared_ptr<Session>& s) {
    if (s->cl) {
        sessions.erase(s->cl);
        cmdline_free(s->cl);
        s->cl = nullptr;
    }
}

void Console::Impl::read(std::shared_ptr<local::socket> sock, std::shared_ptr<Session> s,
                         std::shared_ptr<std::vector<char>> buf) {
    sock->async_read_some(asio::buffer(*buf),
                          [this, sock, s, buf, alive = alive](boost::system::error_code ec, size_t n) {
                              if (!*alive || s->cl == nullptr) return;
                              if (!ec && n > 0) {
                                  // Feed byte by byte so that nothing after a `quit` runs.
                                  for (size_t i = 0; i < n && !s->quit; ++i) cmdline_in(s->cl, buf->data() + i, 1);
                              }
                              if (ec || s->quit) {
                                  close(s);
                                  boost::system::error_code ignored;
                                  sock->shutdown(local::socket::shutdown_both, ignored);
                                  sock->close(ignored);
                                  return;
                              }
                              read(sock, s, buf);
                          });
}

void Console::Impl::accept() {
    acceptor->async_accept(
        [this, alive = alive, from = acceptor.get()](boost::system::error_code ec, local::socket sock) {
            // Stopped, or this acceptor closed (unlisten) and maybe replaced.
            if (!*alive || acceptor.get() != from || ec == asio::error::operation_aborted) return;
            if (!ec) {
                // Root only (or this daemon's own user), whatever the file mode.
                ucred cred{};
                socklen_t len = sizeof(cred);
                if (getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
                    (cred.uid != 0 && cred.uid != geteuid())) {
                    const std::string msg = "tern console: root only\r\n";
                    write_all(sock.native_handle(), msg);
                } else {
                    auto s = std::make_shared<Session>();
                    auto shared = std::make_shared<local::socket>(std::move(sock));
                    const int fd = shared->native_handle();
                    s->out_fd = fd;
                    s->cl = cmdline_new(table.context(), "tern> ", fd, fd);
                    if (s->cl != nullptr) {
                        sessions[s->cl] = s;
                        read(shared, s, std::make_shared<std::vector<char>>(4096));
                    }
                }
            }
            accept();
        });
}

void Console::Impl::read_tty(std::shared_ptr<std::vector<char>> buf) {
    tty_in->async_read_some(asio::buffer(*buf), [this, buf, alive = alive](boost::system::error_code ec, size_t n) {
        if (!*alive || tty_cl == nullptr) return;
        auto s = sessions[tty_cl];
        if (!ec && n > 0) {
            for (size_t i = 0; i < n && !s->quit; ++i) cmdline_in(tty_cl, buf->data() + i, 1);
        }
        if (ec || s->quit) {
            sessions.erase(tty_cl);
            cmdline_stdin_exit(tty_cl);
            tty_cl = nullptr;
            if (s->quit && on_quit_interactive) on_quit_interactive();
            return;
        }
        read_tty(buf);
    });
}

Console::Console(asio::io_context& io, Operable& target, std::function<void()> on_quit_interactive)
    : impl_(std::make_unique<Impl>(io, target, std::move(on_quit_interactive))) {}

Console::~Console() { stop(); }

std::string Console::listen(const std::string& path) {
    auto& im = *impl_;
    // A socket file left by a process that is gone: replace it; a live one: refuse.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return fmt::format("console socket {}: exists and is not a socket", path);
        local::socket probe(im.io);
        boost::system::error_code ec;
        probe.connect(local::endpoint(path), ec);
        if (!ec) return fmt::format("console socket {}: another tern is listening there", path);
        ::unlink(path.c_str());
    }
    const std::string dir = path.substr(0, path.rfind('/'));
    if (!dir.empty() && dir != path) ::mkdir(dir.c_str(), 0700);
    boost::system::error_code ec;
    auto acc = std::make_unique<local::acceptor>(im.io);
    const mode_t old = ::umask(0177);  // the socket is born 0600
    acc->open(local(), ec);
    if (!ec) acc->bind(local::endpoint(path), ec);
    ::umask(old);
    if (!ec) acc->listen(16, ec);
    if (ec) return fmt::format("console socket {}: {}", path, ec.message());
    ::chmod(path.c_str(), 0600);
    im.acceptor = std::move(acc);
    im.path = path;
    im.accept();
    return "";
}

std::string Console::interactive() {
    auto& im = *impl_;
    im.tty_cl = cmdline_stdin_new(im.table.context(), "tern> ");
    if (im.tty_cl == nullptr) return "cannot start the console on the terminal";
    auto s = std::make_shared<Session>();
    s->cl = im.tty_cl;
    s->out_fd = STDOUT_FILENO;
    s->terminal = true;
    im.sessions[im.tty_cl] = s;
    im.tty_in = std::make_unique<asio::posix::stream_descriptor>(im.io, ::dup(STDIN_FILENO));
    im.read_tty(std::make_shared<std::vector<char>>(1024));
    return "";
}

void Console::unlisten() {
    auto& im = *impl_;
    if (!im.acceptor) return;
    boost::system::error_code ec;
    im.acceptor->close(ec);
    im.acceptor.reset();
    ::unlink(im.path.c_str());
    im.path.clear();
}

void Console::stop() {
    auto& im = *impl_;
    *im.alive = false;
    im.alive = std::make_shared<bool>(false);
    if (im.acceptor) {
        boost::system::error_code ec;
        im.acceptor->close(ec);
        im.acceptor.reset();
        ::unlink(im.path.c_str());
    }
    if (im.tty_cl) {
        im.sessions.erase(im.tty_cl);
        cmdline_stdin_exit(im.tty_cl);
        im.tty_cl = nullptr;
    }
    for (auto& [cl, s] : im.sessions) {
        cmdline_free(cl);
        s->cl = nullptr;
    }
    im.sessions.clear();
    im.tty_in.reset();
}

int console_client(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        fmt::print(stderr, "tern console: {}: path too long\n", path);
        return 2;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        fmt::print(stderr, "tern console: {}: {} (is tern run up, and are you root?)\n", path, std::strerror(errno));
        ::close(fd);
        return 1;
    }
    // On a terminal: keys go through as typed (TAB, arrows) and the daemon echoes.
    termios saved{};
    const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        termios raw = saved;
        raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG));
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    bool in_open = true;
    char buf[4096];
    for (;;) {
        pollfd p[2] = {{fd, POLLIN, 0}, {STDIN_FILENO, static_cast<short>(in_open ? POLLIN : 0), 0}};
        if (::poll(p, in_open ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::read(fd, buf, sizeof(buf));
            if (n <= 0) break;
            write_all(STDOUT_FILENO, std::string(buf, static_cast<size_t>(n)));
        }
        if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0) {
                // A script ended: let the daemon finish answering, then it closes.
                in_open = false;
                ::shutdown(fd, SHUT_WR);
            } else {
                write_all(fd, std::string(buf, static_cast<size_t>(n)));
            }
        }
    }
    if (tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    ::close(fd);
    return 0;
}

}  // namespace tern::ctl
