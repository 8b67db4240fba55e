#include "bgp/asio_io.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>

namespace tern::bgp {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A closing connection waits this long for the peer's FIN before it is cut;
// and this long for what it still has to send, when the peer is not reading.
constexpr auto kLinger = std::chrono::seconds(2);
// Unsent bytes a connection may hold: a peer that stops reading (its TCP
// window stays shut) but keeps its session up with KEEPALIVEs is cut when
// this much is waiting, rather than the queue growing without end. Far more
// than every route of a large config (10,000 VIPs: about 200 kB of UPDATEs).
constexpr size_t kMaxUnsent = 4u << 20;

asio::ip::address to_asio(const Address& a) {
    if (a.family == 4) {
        asio::ip::address_v4::bytes_type b;
        std::copy_n(a.bytes.begin(), 4, b.begin());
        return asio::ip::address_v4(b);
    }
    asio::ip::address_v6::bytes_type b;
    std::copy_n(a.bytes.begin(), 16, b.begin());
    return asio::ip::address_v6(b);
}

Address from_asio(asio::ip::address a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    Address out;
    if (a.is_v4()) {
        out.family = 4;
        auto b = a.to_v4().to_bytes();
        std::copy(b.begin(), b.end(), out.bytes.begin());
    } else {
        out.family = 6;
        auto b = a.to_v6().to_bytes();
        std::copy(b.begin(), b.end(), out.bytes.begin());
    }
    return out;
}

// RFC 2385 key for `peer` on socket `fd`; an empty password removes it.
std::string set_md5(int fd, const Address& peer, const std::string& password) {
    tcp_md5sig sig{};
    if (peer.family == 4) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&sig.tcpm_addr);
        sin->sin_family = AF_INET;
        std::memcpy(&sin->sin_addr, peer.bytes.data(), 4);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&sig.tcpm_addr);
        sin6->sin6_family = AF_INET6;
        std::memcpy(&sin6->sin6_addr, peer.bytes.data(), 16);
    }
    sig.tcpm_keylen = static_cast<uint16_t>(std::min<size_t>(password.size(), TCP_MD5SIG_MAXKEYLEN));
    std::memcpy(sig.tcpm_key, password.data(), sig.tcpm_keylen);
    if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) != 0) {
        return fmt::format("TCP MD5 for {}: {}", peer.str(), std::strerror(errno));
    }
    return {};
}

// GTSM: send with TTL 255 and drop anything that arrives with less than 254.
std::string set_ttl_security(int fd, int family) {
    const int ttl = 255, min = 254;
    const bool v4 = family == 4;
    if (setsockopt(fd, v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_TTL : IPV6_UNICAST_HOPS, &ttl, sizeof ttl) != 0 ||
        setsockopt(fd, v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_MINTTL : IPV6_MINHOPCOUNT, &min, sizeof min) != 0) {
        return fmt::format("TTL security: {}", std::strerror(errno));
    }
    return {};
}

// GTSM on the listening side. The listener is shared by every peer, so it
// cannot drop low-TTL SYNs itself (IP_MINTTL would refuse peers without GTSM);
// instead it keeps each SYN (TCP_SAVE_SYN) and an accepted connection from a
// GTSM peer is kept only when its SYN came with a TTL (hop limit) of 254 or
// more. Otherwise the handshake completes and the peer's OPEN, sent before
// IP_MINTTL is set on the accepted socket, is already queued.
bool syn_ttl_ok(int fd, int family) {
    std::array<uint8_t, 128> syn{};
    socklen_t len = syn.size();
    if (getsockopt(fd, IPPROTO_TCP, TCP_SAVED_SYN, syn.data(), &len) != 0) return false;
    const size_t at = family == 4 ? 8 : 7;  // IPv4 TTL, IPv6 hop limit
    return len > at && (syn[0] >> 4) == (family == 4 ? 4 : 6) && syn[at] >= 254;
}

}  // namespace

struct AsioTransport::Shared {
    size_t open = 0;
    size_t max_unsent = kMaxUnsent;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
};

namespace {

class Timer_ : public Timer {
public:
    Timer_(asio::io_context& io, std::function<void()> fire) : s_(std::make_shared<S>(io, std::move(fire))) {}
    ~Timer_() override { cancel(); }
    void arm(Duration after) override {
        cancel();
        s_->armed = true;
        s_->t.expires_after(after);
        s_->t.async_wait([s = s_, gen = s_->gen](const boost::system::error_code& ec) {
            if (ec || gen != s->gen) return;
            s->armed = false;
            auto fire = s->fire;
            fire();
        });
    }
    void cancel() override {
        ++s_->gen;
        s_->armed = false;
        s_->t.cancel();
    }
    bool armed() const override { return s_->armed; }

private:
    struct S {
        S(asio::io_context& io, std::function<void()> f) : t(io), fire(std::move(f)) {}
        asio::steady_timer t;
        std::function<void()> fire;
        uint64_t gen = 0;
        bool armed = false;
    };
    std::shared_ptr<S> s_;
};

// The socket and its queues outlive the handle while a close flushes.
struct Link : std::enable_shared_from_this<Link> {
    Link(tcp::socket s, std::shared_ptr<AsioTransport::Shared> sh)
        : sock(std::move(s)), linger(sock.get_executor()), shared(std::move(sh)) {
        ++shared->open;
    }
    ~Link() { --shared->open; }

    void read() {
        sock.async_read_some(
            asio::buffer(rbuf), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                if (ec) {
                    if (!self->closed) {
                        self->closed = true;
                        auto h = self->handlers.closed;
                        if (h) h(ec == asio::error::eof ? std::string("connection closed by the peer") : ec.message());
                    }
                    self->cut();
                    return;
                }
                if (!self->closed) {
                    auto h = self->handlers.data;
                    h(std::span<const uint8_t>(self->rbuf.data(), n));
                }
                self->read();  // after close(): drain until the peer's FIN
            });
    }
    void send(Bytes b) {
        if (closed) return;
        unsent += b.size();
        out.push_back(std::move(b));
        if (unsent > shared->max_unsent) {
            fail_later(fmt::format("over {} kB unsent: the peer is not reading", shared->max_unsent >> 10));
            return;
        }
        if (!writing) write_next();
    }
    // Reports the connection closed from the event loop, not from inside the
    // caller's send().
    void fail_later(std::string why) {
        asio::post(sock.get_executor(), [self = shared_from_this(), why = std::move(why)] {
            if (self->closed) return;
            self->closed = true;
            auto h = self->handlers.closed;
            if (h) h(why);
            self->cut();
        });
    }
    void write_next() {
        writing = true;
        asio::async_write(sock, asio::buffer(out.front()),
                          [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                              self->writing = false;
                              if (ec) {
                                  self->out.clear();
                                  self->unsent = 0;
                                  if (!self->closed) {
                                      self->closed = true;
                                      auto h = self->handlers.closed;
                                      if (h) h(ec.message());
                                  }
                                  self->cut();
                                  return;
                              }
                              self->unsent -= self->out.front().size();
                              self->out.pop_front();
                              if (!self->out.empty()) {
                                  self->write_next();
                              } else if (self->closed) {
                                  self->finish();
                              }
                          });
    }
    void close() {
        if (closed) return;
        closed = true;
        if (!writing) {
            finish();
            return;
        }
        // A write is pending: give it kLinger to go out (then finish() waits
        // for the FIN), else cut. A peer whose window stays shut would
        // otherwise keep the write, the socket and this Link forever.
        linger.expires_after(kLinger);
        linger.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
            if (!e) self->cut();
        });
    }
    // Everything sent: FIN, then wait (bounded) for the peer's.
    void finish() {
        boost::system::error_code ec;
        sock.shutdown(tcp::socket::shutdown_send, ec);
        linger.expires_after(kLinger);
        linger.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
            if (!e) self->cut();
        });
        if (!started) read();
    }
    void cut() {
        boost::system::error_code ec;
        linger.cancel();
        // Bytes the peer would not take (ours, or the kernel's): reset, rather
        // than leave the kernel an orphan socket probing a shut window with
        // them for minutes.
        int queued = 0;
        if (sock.is_open() && (writing || (ioctl(sock.native_handle(), TIOCOUTQ, &queued) == 0 && queued > 0))) {
            sock.set_option(asio::socket_base::linger(true, 0), ec);
        }
        sock.close(ec);  // a pending write ends with an error, which clears `out`
    }

    tcp::socket sock;
    asio::steady_timer linger;
    std::shared_ptr<AsioTransport::Shared> shared;
    Connection::Handlers handlers;
    std::array<uint8_t, kMaxMessageLen> rbuf{};
    std::deque<Bytes> out;
    size_t unsent = 0;  // bytes in `out`
    bool writing = false, closed = false, started = false;
};

class Connection_ : public Connection {
public:
    explicit Connection_(std::shared_ptr<Link> l) : l_(std::move(l)) {
        boost::system::error_code ec;
        auto r = l_->sock.remote_endpoint(ec);
        if (!ec) remote_ = from_asio(r.address());
        auto lo = l_->sock.local_endpoint(ec);
        if (!ec) local_ = from_asio(lo.address());
    }
    ~Connection_() override { l_->close(); }
    void start(Handlers h) override {
        l_->handlers = std::move(h);
        l_->started = true;
        l_->read();
    }
    void send(Bytes bytes) override { l_->send(std::move(bytes)); }
    void close() override { l_->close(); }
    Address remote() const override { return remote_; }
    Address local() const override { return local_; }

private:
    std::shared_ptr<Link> l_;
    Address remote_, local_;
};

class Attempt_ : public ConnectAttempt {
public:
    struct S {
        explicit S(asio::io_context& io) : sock(io) {}
        tcp::socket sock;
        bool cancelled = false;
    };
    explicit Attempt_(std::shared_ptr<S> s) : s_(std::move(s)) {}
    ~Attempt_() override {
        s_->cancelled = true;
        boost::system::error_code ec;
        s_->sock.close(ec);
    }

private:
    std::shared_ptr<S> s_;
};

}  // namespace

TimePoint AsioClock::now() const { return std::chrono::steady_clock::now(); }

std::unique_ptr<Timer> AsioClock::timer(std::function<void()> fire) {
    return std::make_unique<Timer_>(io_, std::move(fire));
}

AsioTransport::AsioTransport(asio::io_context& io) : io_(io), shared_(std::make_shared<Shared>()) {}

AsioTransport::~AsioTransport() {
    for (auto& a : shared_->acceptors) {
        boost::system::error_code ec;
        a->close(ec);
    }
}

size_t AsioTransport::open_connections() const { return shared_->open; }

void AsioTransport::set_max_unsent(size_t bytes) { shared_->max_unsent = bytes; }

std::unique_ptr<ConnectAttempt> AsioTransport::connect(const Address& remote, uint16_t port, const SocketOptions& opts,
                                                       Connected done) {
    auto s = std::make_shared<Attempt_::S>(io_);
    auto attempt = std::make_unique<Attempt_>(s);
    const tcp::endpoint ep(to_asio(remote), port);
    boost::system::error_code ec;
    s->sock.open(ep.protocol(), ec);
    std::string err = ec ? ec.message() : "";
    if (err.empty() && !opts.md5_password.empty()) err = set_md5(s->sock.native_handle(), remote, opts.md5_password);
    if (err.empty() && opts.ttl_security) err = set_ttl_security(s->sock.native_handle(), remote.family);
    if (!err.empty()) {
        asio::post(io_, [s, done, err] {
            if (!s->cancelled) done(nullptr, err);
        });
        return attempt;
    }
    s->sock.async_connect(ep, [this, s, done](const boost::system::error_code& e) {
        if (s->cancelled) return;
        if (e) {
            done(nullptr, e.message());
            return;
        }
        auto link = std::make_shared<Link>(std::move(s->sock), shared_);
        done(std::make_unique<Connection_>(std::move(link)), "");
    });
    return attempt;
}

std::string AsioTransport::listen(const Address& local, uint16_t port,
                                  const std::vector<std::pair<Address, SocketOptions>>& peers, Accepted accepted) {
    // One acceptor per address family that has peers (IPv6 ones are v6-only,
    // so TCP MD5 keys are set with plain addresses of their own family).
    for (int fam : {4, 6}) {
        if (local.family != 0 && local.family != fam) continue;
        bool any = false;
        for (const auto& [a, o] : peers) any = any || a.family == fam;
        if (!any) continue;
        auto acc = std::make_unique<tcp::acceptor>(io_);
        const tcp::endpoint ep(local.family ? to_asio(local)
                                            : (fam == 4 ? asio::ip::address(asio::ip::address_v4::any())
                                                        : asio::ip::address(asio::ip::address_v6::any())),
                               port);
        boost::system::error_code ec;
        acc->open(ep.protocol(), ec);
        if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec && fam == 6) acc->set_option(asio::ip::v6_only(true), ec);
        if (ec) return fmt::format("listen on [{}]:{}: {}", ep.address().to_string(), port, ec.message());
        bool gtsm = false;
        for (const auto& [a, o] : peers) {
            gtsm = gtsm || (a.family == fam && o.ttl_security);
            if (a.family != fam || o.md5_password.empty()) continue;
            if (auto e = set_md5(acc->native_handle(), a, o.md5_password); !e.empty()) return e;
        }
        const int one = 1;
        if (gtsm && setsockopt(acc->native_handle(), IPPROTO_TCP, TCP_SAVE_SYN, &one, sizeof one) != 0) {
            return fmt::format("listen on [{}]:{}: TTL security: {}", ep.address().to_string(), port,
                               std::strerror(errno));
        }
        acc->bind(ep, ec);
        if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return fmt::format("listen on [{}]:{}: {}", ep.address().to_string(), port, ec.message());
        tcp::acceptor* raw = acc.get();
        shared_->acceptors.push_back(std::move(acc));
        // Only the pending accept holds the loop, so closing the acceptor frees it.
        auto loop = std::make_shared<std::function<void()>>();
        std::weak_ptr<Shared> weak = shared_;
        *loop = [raw, wloop = std::weak_ptr(loop), weak, accepted, peers] {
            raw->async_accept(
                [l = wloop.lock(), weak, accepted, peers](const boost::system::error_code& e, tcp::socket s) {
                    auto sh = weak.lock();
                    if (!sh || e == asio::error::operation_aborted) return;
                    if (!e) {
                        boost::system::error_code rec;
                        const Address from = from_asio(s.remote_endpoint(rec).address());
                        bool ok = true;
                        for (const auto& [a, o] : peers) {
                            if (a == from && o.ttl_security) {
                                ok = syn_ttl_ok(s.native_handle(), from.family) &&
                                     set_ttl_security(s.native_handle(), from.family).empty();
                            }
                        }
                        if (ok) {
                            accepted(std::make_unique<Connection_>(std::make_shared<Link>(std::move(s), sh)));
                        } else {
                            s.close(rec);  // like IP_MINTTL, silently
                        }
                    }
                    (*l)();
                });
        };
        (*loop)();
    }
    return {};
}

void AsioTransport::unlisten() {
    // Each pending accept ends with operation_aborted and its loop with it.
    for (auto& acc : shared_->acceptors) {
        boost::system::error_code ec;
        acc->close(ec);
    }
    shared_->acceptors.clear();
}

}  // namespace tern::bgp
