#include "control/sources/pool_source.h"

#include <fmt/format.h>
#include <netinet/tcp.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "control/sources/etcd_answer.h"

namespace tern::ctl {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

constexpr size_t kMaxBody = 16 << 20;  // a pool listing larger than this is garbage

// ---------------------------------------------------------------------------
// One HTTP/1.1 request whose body is handed over as it arrives (etcd v3's
// watch streams for hours); plain or TLS. Everything on the io_context.
struct Target {
    bool tls = false;
    std::string host;  // a name or an address
    uint16_t port = 0;
    std::string ca;  // TLS: verify the certificate and the host name against this CA (PEM file)
};

class Request : public std::enable_shared_from_this<Request> {
public:
    struct Handlers {
        std::function<void(unsigned status, const http::fields& headers)> headers;
        std::function<bool(std::string_view data)> data;     // false: stop reading
        std::function<void(const std::string& error)> done;  // "" when the response ended well
    };

    Request(asio::io_context& io, Target target, http::verb method, std::string path, std::string body,
            double timeout_s, Handlers h)
        : io_(io), target_(std::move(target)), resolver_(io), timer_(io), h_(std::move(h)) {
        req_.method(method);
        req_.target(path);
        req_.version(11);
        req_.set(http::field::host, target_.host);
        req_.set(http::field::user_agent, "tern");
        if (!body.empty()) {
            req_.set(http::field::content_type, "application/json");
            req_.body() = std::move(body);
        }
        req_.prepare_payload();
        timeout_ = timeout_s;
    }

    void start() {
        if (timeout_ > 0) {
            timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(timeout_)));
            timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
                if (!ec) self->finish(fmt::format("no complete answer within {} s", self->timeout_));
            });
        }
        resolver_.async_resolve(
            target_.host, std::to_string(target_.port),
            [self = shared_from_this()](const boost::system::error_code& ec, tcp::resolver::results_type r) {
                if (ec) return self->finish(fmt::format("resolve {}: {}", self->target_.host, ec.message()));
                self->connect(r);
            });
    }

    void cancel() {
        h_ = {};
        finish("cancelled");
    }

private:
    void connect(const tcp::resolver::results_type& r) {
        if (finished_) return;
        if (target_.tls) {
            ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
            if (target_.ca.empty()) {
                // As PyBal's etcd client: the channel is encrypted, the certificate not checked.
                ctx_->set_verify_mode(asio::ssl::verify_none);
            } else {
                boost::system::error_code ec;
                ctx_->set_verify_mode(asio::ssl::verify_peer, ec);
                if (!ec) ctx_->load_verify_file(target_.ca, ec);
                if (ec) return finish(fmt::format("cannot load the CA file {}: {}", target_.ca, ec.message()));
            }
            tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, *ctx_);
            SSL_set_tlsext_host_name(tls_->native_handle(), target_.host.c_str());
            // The certificate must name the URL's host (a name, or an IP address).
            if (!target_.ca.empty() && SSL_set1_host(tls_->native_handle(), target_.host.c_str()) != 1) {
                return finish(fmt::format("cannot check the certificate's name against {}", target_.host));
            }
            beast::get_lowest_layer(*tls_).async_connect(
                r, [self = shared_from_this()](const boost::system::error_code& ec, const tcp::endpoint&) {
                    if (ec)
                        return self->finish(
                            fmt::format("connect {}:{}: {}", self->target_.host, self->target_.port, ec.message()));
                    self->keepalive(beast::get_lowest_layer(*self->tls_).socket());
                    self->tls_->async_handshake(
                        asio::ssl::stream_base::client, [self](const boost::system::error_code& hec) {
                            if (hec) {
                                const long v = SSL_get_verify_result(self->tls_->native_handle());
                                return self->finish(fmt::format(
                                    "TLS handshake with {}: {}{}", self->target_.host, hec.message(),
                                    v == X509_V_OK ? "" : fmt::format(" ({})", X509_verify_cert_error_string(v))));
                            }
                            self->write(*self->tls_);
                        });
                });
        } else {
            plain_ = std::make_unique<beast::tcp_stream>(io_);
            plain_->async_connect(
                r, [self = shared_from_this()](const boost::system::error_code& ec, const tcp::endpoint&) {
                    if (ec)
                        return self->finish(
                            fmt::format("connect {}:{}: {}", self->target_.host, self->target_.port, ec.message()));
                    self->keepalive(self->plain_->socket());
                    self->write(*self->plain_);
                });
        }
    }

    // A long watch learns of a dead peer from TCP keepalive.
    void keepalive(tcp::socket& s) {
        boost::system::error_code ec;
        s.set_option(asio::socket_base::keep_alive(true), ec);
        const int idle = 30, intvl = 10, cnt = 3;
        setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    }

    template <class Stream>
    void write(Stream& s) {
        http::async_write(s, req_, [self = shared_from_this(), &s](const boost::system::error_code& ec, size_t) {
            if (ec) return self->finish(fmt::format("send to {}: {}", self->target_.host, ec.message()));
            self->parser_.body_limit(kMaxBody);
            http::async_read_header(
                s, self->buffer_, self->parser_, [self, &s](const boost::system::error_code& rec, size_t) {
                    if (rec) return self->finish(fmt::format("read from {}: {}", self->target_.host, rec.message()));
                    if (self->h_.headers)
                        self->h_.headers(self->parser_.get().result_int(), self->parser_.get().base());
                    self->read_body(s);
                });
        });
    }

    template <class Stream>
    void read_body(Stream& s) {
        if (finished_) return;
        if (parser_.is_done()) return finish("");
        parser_.get().body().data = chunk_.data();
        parser_.get().body().size = chunk_.size();
        http::async_read_some(
            s, buffer_, parser_, [self = shared_from_this(), &s](boost::system::error_code ec, size_t) {
                if (ec == http::error::need_buffer) ec = {};
                const size_t got = self->chunk_.size() - self->parser_.get().body().size;
                if (got > 0 && self->h_.data && !self->finished_) {
                    if (!self->h_.data(std::string_view(self->chunk_.data(), got))) return self->finish("");
                }
                if (ec == http::error::end_of_stream || (ec == asio::error::eof && self->parser_.is_done())) {
                    return self->finish("");
                }
                if (ec) return self->finish(fmt::format("read from {}: {}", self->target_.host, ec.message()));
                self->read_body(s);
            });
    }

    void finish(const std::string& error) {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        resolver_.cancel();
        boost::system::error_code ec;
        if (plain_) plain_->socket().close(ec);
        if (tls_) beast::get_lowest_layer(*tls_).socket().close(ec);
        auto done = std::move(h_.done);
        h_ = {};
        if (done) done(error);
    }

    asio::io_context& io_;
    Target target_;
    tcp::resolver resolver_;
    asio::steady_timer timer_;
    Handlers h_;
    double timeout_ = 0;
    http::request<http::string_body> req_;
    std::unique_ptr<asio::ssl::context> ctx_;
    std::unique_ptr<beast::tcp_stream> plain_;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
    beast::flat_buffer buffer_{64 * 1024};
    http::response_parser<http::buffer_body> parser_;
    std::array<char, 16 * 1024> chunk_{};
    bool finished_ = false;
};

// ---------------------------------------------------------------------------

class Base : public PoolSource {
public:
    Base(asio::io_context& io, const conf::PoolSource& spec, OnPool p, OnError e, Log l)
        : io_(io), spec_(spec), on_pool_(std::move(p)), on_error_(std::move(e)), log_(std::move(l)), timer_(io) {
        url_ = spec.url;
    }
    ~Base() override { *alive_ = false; }

    void stop() override {
        *alive_ = false;
        alive_ = std::make_shared<bool>(false);
        timer_.cancel();
        if (req_) req_->cancel();
        req_.reset();
    }

protected:
    // Handlers run on the control thread's io_context: nothing they throw may
    // reach it (it would end `tern run`). A surprise is a failed answer, and
    // the source starts over after the back-off.
    template <class F>
    auto guard(F f) {
        return [this, alive = alive_, f = std::move(f)](auto&&... args) mutable {
            if (!*alive) return;
            try {
                f(std::forward<decltype(args)>(args)...);
            } catch (const std::exception& e) {
                surprise(e.what());
            }
        };
    }
    // For body handlers: false (stop reading) once stopped.
    template <class F>
    auto guard_data(F f) {
        return [this, alive = alive_, f = std::move(f)](std::string_view d) mutable {
            if (!*alive) return false;
            try {
                return f(d);
            } catch (const std::exception& e) {
                // The request ends; its done handler reads or waits again.
                fail(fmt::format("an answer could not be used ({})", e.what()));
                return false;
            }
        };
    }
    void surprise(const char* what) {
        retry_later(fmt::format("an answer could not be used ({})", what), [this] { start(); });
    }
    void after(double s, std::function<void()> fn) {
        timer_.expires_after(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s)));
        timer_.async_wait(guard([fn = std::move(fn)](const boost::system::error_code& ec) {
            if (!ec) fn();
        }));
    }
    void say(conf::LogLevel level, const std::string& text) const {
        if (log_) log_(level, fmt::format("pool {}: {}", url_, text));
    }
    // A complete good pool.
    void deliver(std::map<std::string, conf::PoolEntry> pool) {
        Pool p;
        for (auto& [h, e] : pool) p.push_back(e);
        if (failing_) {
            failing_ = false;
            last_error_.clear();
            say(conf::LogLevel::info, "good again");
            if (on_error_) on_error_("");
        }
        if (delivered_ && p == last_) return;
        delivered_ = true;
        last_ = p;
        say(conf::LogLevel::info, fmt::format("{} server(s)", p.size()));
        if (on_pool_) on_pool_(p);
    }
    void fail(const std::string& why) {
        if (failing_ && why == last_error_) return;
        failing_ = true;
        last_error_ = why;
        say(conf::LogLevel::error, fmt::format("{}; the last good pool stays", why));
        if (on_error_) on_error_(why);
    }
    // A body handler that keeps the response in body_ (bounded).
    std::function<bool(std::string_view)> collect_body() {
        body_.clear();
        return guard_data([this](std::string_view d) {
            body_.append(d);
            return body_.size() <= kMaxBody;
        });
    }
    // Says what failed and tries `again` after a back-off (1 s, doubling to 30 s).
    void retry_later(const std::string& why, std::function<void()> again) {
        fail(why);
        later(std::move(again));
    }
    void later(std::function<void()> again) {
        const double d = backoff_;
        backoff_ = std::min(backoff_ * 2, 30.0);
        after(d, std::move(again));
    }
    std::shared_ptr<Request> request(const Target& t, http::verb m, std::string path, std::string body, double timeout,
                                     Request::Handlers h) {
        req_ = std::make_shared<Request>(io_, t, m, std::move(path), std::move(body), timeout, std::move(h));
        req_->start();
        return req_;
    }

    asio::io_context& io_;
    conf::PoolSource spec_;
    OnPool on_pool_;
    OnError on_error_;
    Log log_;
    asio::steady_timer timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::shared_ptr<Request> req_;
    Pool last_;
    std::string body_;
    double backoff_ = 1;
    bool delivered_ = false;
    bool failing_ = false;
    std::string last_error_;
};

std::map<std::string, conf::PoolEntry> by_host(const std::vector<conf::PoolEntry>& v) {
    std::map<std::string, conf::PoolEntry> m;
    for (const auto& e : v) m[e.host] = e;
    return m;
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A pool file's text (from a file or over HTTP): PyBal's format, and at
// least one server. An empty answer is an accident (a truncated write, a
// server that answers nothing), never a pool.
struct PoolAnswer {
    std::vector<conf::PoolEntry> entries;
    std::string error;
};
PoolAnswer pool_answer(std::string_view text, bool json_form) {
    PoolAnswer a;
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        a.error = "the answer is empty";
        return a;
    }
    conf::PoolParse r = conf::parse_pool_file(text, json_form);
    if (!r.errors.empty()) {
        a.error = r.errors.front();
    } else if (r.entries.empty()) {
        a.error = "the answer lists no servers";
    } else {
        a.entries = std::move(r.entries);
    }
    return a;
}

// file:// ------------------------------------------------------------------
class FileSource final : public Base {
public:
    using Base::Base;
    void start() override { poll(); }

private:
    void poll() {
        const std::string path = url_.substr(7);
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
            seen_ = {};
        } else {
            const auto id = std::make_tuple(st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
            if (id != seen_ || failing_) {
                seen_ = id;
                if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) > kMaxBody) {
                    fail(fmt::format("{}: not a regular file of at most 16 MiB", path));
                } else {
                    std::ifstream in(path);
                    std::stringstream ss;
                    ss << in.rdbuf();
                    if (!in.good() && !in.eof()) {
                        fail(fmt::format("cannot read {}", path));
                    } else {
                        const PoolAnswer r = pool_answer(ss.str(), ends_with(path, ".json"));
                        if (!r.error.empty()) {
                            fail(fmt::format("{}: {}", path, r.error));
                        } else {
                            deliver(by_host(r.entries));
                        }
                    }
                }
            }
        }
        after(spec_.interval > 0 ? spec_.interval : 1.0, [this] { poll(); });
    }
    std::tuple<ino_t, off_t, time_t, long> seen_{};
};

// Splits "scheme://host[:port]/path".
bool split_url(const std::string& url, size_t scheme_len, bool tls, uint16_t default_port, Target& t, std::string& path,
               std::string& error) {
    const std::string rest = url.substr(scheme_len);
    const size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    path = slash == std::string::npos ? "/" : rest.substr(slash);
    t.tls = tls;
    t.port = default_port;
    if (!authority.empty() && authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string::npos) {
            error = fmt::format("'{}': unclosed '[' in the host", url);
            return false;
        }
        t.host = authority.substr(1, close - 1);
        authority = authority.substr(close + 1);
        if (!authority.empty() && authority.front() != ':') {
            error = fmt::format("'{}': unexpected text after the host", url);
            return false;
        }
        authority = authority.empty() ? "" : authority.substr(1);
    } else {
        const size_t colon = authority.find(':');
        t.host = authority.substr(0, colon);
        authority = colon == std::string::npos ? "" : authority.substr(colon + 1);
    }
    if (!authority.empty()) {
        char* end = nullptr;
        const long p = std::strtol(authority.c_str(), &end, 10);
        if (*end != '\0' || p < 1 || p > 65535) {
            error = fmt::format("'{}': bad port '{}'", url, authority);
            return false;
        }
        t.port = static_cast<uint16_t>(p);
    }
    if (t.host.empty()) {
        error = fmt::format("'{}': no host", url);
        return false;
    }
    return true;
}

// http(s):// ---------------------------------------------------------------
class HttpSource final : public Base {
public:
    HttpSource(asio::io_context& io, const conf::PoolSource& spec, OnPool p, OnError e, Log l, Target t,
               std::string path)
        : Base(io, spec, std::move(p), std::move(e), std::move(l)), target_(std::move(t)), path_(std::move(path)) {}
    void start() override { fetch(); }

private:
    void fetch() {
        status_ = 0;
        request(target_, http::verb::get, path_, "", 30,
                {guard([this](unsigned s, const http::fields&) { status_ = s; }), collect_body(),
                 guard([this](const std::string& err) {
                     if (!err.empty()) {
                         fail(err);
                     } else if (status_ != 200) {
                         fail(fmt::format("HTTP status {}", status_));
                     } else {
                         const PoolAnswer r = pool_answer(body_, ends_with(path_.substr(0, path_.find('?')), ".json"));
                         if (!r.error.empty()) {
                             fail(r.error);
                         } else {
                             deliver(by_host(r.entries));
                         }
                     }
                     body_.clear();
                     after(spec_.interval > 0 ? spec_.interval : 1.0, [this] { fetch(); });
                 })});
    }
    Target target_;
    std::string path_;
    unsigned status_ = 0;
};

// etcd v2 --------------------------------------------------------------------
class Etcd2Source final : public Base {
public:
    Etcd2Source(asio::io_context& io, const conf::PoolSource& spec, OnPool p, OnError e, Log l, Target t,
                std::string dir)
        : Base(io, spec, std::move(p), std::move(e), std::move(l)), target_(std::move(t)), dir_(std::move(dir)) {
        while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    }
    void start() override { read(); }

private:
    std::string keys() const { return "/v2/keys" + dir_; }

    // The whole directory, and the index to wait from.
    void read() {
        request(target_, http::verb::get, keys() + "?recursive=true", "", 30,
                {guard([this](unsigned s, const http::fields& h) {
                     status_ = s;
                     index_.reset();
                     if (auto it = h.find("X-Etcd-Index"); it != h.end())
                         index_ = etcd::parse_index(std::string_view(it->value().data(), it->value().size()));
                 }),
                 collect_body(), guard([this](const std::string& err) {
                     if (!err.empty()) return retry(err);
                     etcd::V2Read r = etcd::parse_v2_read(body_, status_, dir_);
                     if (!r.error.empty()) return retry(r.error);
                     if (!index_) return retry("etcd sent no X-Etcd-Index (or not a number below 2^63)");
                     pool_ = std::move(r.pool);
                     backoff_ = 1;
                     deliver(pool_);
                     wait(*index_ + 1);
                 })});
    }

    // One long-poll; etcd answers when something under the directory changes.
    void wait(uint64_t index) {
        request(target_, http::verb::get, fmt::format("{}?recursive=true&wait=true&waitIndex={}", keys(), index), "", 0,
                {guard([this](unsigned s, const http::fields&) { status_ = s; }), collect_body(),
                 guard([this, index](const std::string& err) {
                     if (!err.empty()) return retry(err);
                     const etcd::V2Event e = etcd::parse_v2_event(body_, status_, index);
                     using K = etcd::V2Event::Kind;
                     switch (e.kind) {
                         case K::idle: return wait(index);
                         case K::outdated:
                             // More than etcd's history went by: read it all again.
                             say(conf::LogLevel::info, "etcd index outdated; reading the pool again");
                             return read();
                         case K::reread: return read();  // a directory changed: simplest to re-read
                         case K::failed: return retry(e.error);
                         case K::bad: fail(e.error); return wait(e.next);
                         case K::remove: break;
                         case K::set: break;
                     }
                     if (e.kind == K::set && e.entry) {
                         pool_[e.host] = *e.entry;
                     } else {
                         pool_.erase(e.host);  // deleted, expired or inactive
                     }
                     deliver(pool_);
                     wait(e.next);
                 })});
    }

    void retry(const std::string& why) {
        retry_later(why, [this] { read(); });
    }

    Target target_;
    std::string dir_;
    unsigned status_ = 0;
    std::optional<uint64_t> index_;
    etcd::Entries pool_;
};

// etcd v3 (the JSON gateway) ---------------------------------------------------
// The end of the range of keys starting with `prefix` (etcd's prefix rule).
std::string prefix_end(std::string p) {
    for (size_t i = p.size(); i-- > 0;) {
        if (static_cast<unsigned char>(p[i]) < 0xff) {
            p[i] = static_cast<char>(p[i] + 1);
            p.resize(i + 1);
            return p;
        }
    }
    return std::string(1, '\0');
}

class Etcd3Source final : public Base {
public:
    Etcd3Source(asio::io_context& io, const conf::PoolSource& spec, OnPool p, OnError e, Log l, Target t,
                std::string dir)
        : Base(io, spec, std::move(p), std::move(e), std::move(l)), target_(std::move(t)), prefix_(std::move(dir)) {
        while (prefix_.size() > 1 && prefix_.back() == '/') prefix_.pop_back();
        prefix_ += '/';
    }
    void start() override { read(); }

private:
    void read() {
        const json q = {{"key", etcd::base64(prefix_)}, {"range_end", etcd::base64(prefix_end(prefix_))}};
        request(target_, http::verb::post, "/v3/kv/range", q.dump(), 30,
                {guard([this](unsigned s, const http::fields&) { status_ = s; }), collect_body(),
                 guard([this](const std::string& err) {
                     if (!err.empty()) return retry(err);
                     etcd::V3Range r = etcd::parse_v3_range(body_, status_);
                     if (!r.error.empty()) return retry_later(r.error, [this] { read(); });
                     revision_ = r.revision;
                     pool_ = std::move(r.pool);
                     backoff_ = 1;
                     deliver(pool_);
                     watch();
                 })});
    }

    // A watch from the next revision; one JSON object per message, streamed.
    void watch() {
        line_.clear();
        const json q = {{"create_request",
                         {{"key", etcd::base64(prefix_)},
                          {"range_end", etcd::base64(prefix_end(prefix_))},
                          {"start_revision", std::to_string(revision_ + 1)}}}};
        request(target_, http::verb::post, "/v3/watch", q.dump(), 0,
                {guard([this](unsigned s, const http::fields&) {
                     status_ = s;
                     if (s == 200) backoff_ = 1;
                 }),
                 guard_data([this](std::string_view d) {
                     if (status_ != 200) {
                         line_.append(d.substr(0, 512 - std::min<size_t>(line_.size(), 512)));
                         return true;  // an error's text, for the message
                     }
                     for (char c : d) {
                         if (c != '\n') {
                             line_ += c;
                             if (line_.size() > kMaxBody) {
                                 fail("etcd watch: a message larger than 16 MiB");
                                 reread_ = true;
                                 return false;
                             }
                             continue;
                         }
                         if (!message(line_)) return false;
                         line_.clear();
                     }
                     // The gateway may not end a message with a newline: try what we have.
                     if (!line_.empty() && line_.back() == '}') {
                         json j = json::parse(line_, nullptr, false);
                         if (!j.is_discarded()) {
                             if (!message(line_)) return false;
                             line_.clear();
                         }
                     }
                     return true;
                 }),
                 guard([this](const std::string& err) {
                     if (reread_) {
                         reread_ = false;
                         return later([this] { read(); });
                     }
                     if (err.empty() && status_ != 200)
                         return retry(fmt::format("etcd watch: HTTP status {}", status_));
                     retry(err.empty() ? std::string("etcd closed the watch") : err);
                 })});
    }

    // One watch message; false to end the watch (then read again).
    bool message(const std::string& text) {
        const etcd::V3Message m = etcd::parse_v3_message(text);
        if (m.kind == etcd::V3Message::Kind::compacted) {
            say(conf::LogLevel::info, "etcd compacted past our revision; reading the pool again");
            reread_ = true;
            return false;
        }
        if (m.kind == etcd::V3Message::Kind::failed) {
            fail(m.error);
            reread_ = true;
            return false;
        }
        // Only events move the resume point: a message's header revision can
        // be ahead of history etcd has yet to send us.
        revision_ = std::max(revision_, m.revision);
        for (const auto& e : m.errors) fail(e);
        if (m.changes.empty()) return true;
        for (const auto& c : m.changes) {
            if (c.entry) {
                pool_[c.host] = *c.entry;
            } else {
                pool_.erase(c.host);
            }
        }
        deliver(pool_);
        return true;
    }

    // Resume from the last revision seen: nothing in between is lost.
    void retry(const std::string& why) {
        retry_later(why, [this] { watch_or_read(); });
    }
    void watch_or_read() {
        if (revision_ > 0) {
            watch();
        } else {
            read();
        }
    }

    Target target_;
    std::string prefix_;
    std::string line_;
    unsigned status_ = 0;
    uint64_t revision_ = 0;
    bool reread_ = false;
    etcd::Entries pool_;
};

}  // namespace

std::unique_ptr<PoolSource> PoolSource::make(asio::io_context& io, const conf::PoolSource& spec, OnPool on_pool,
                                             OnError on_error, Log log, std::string* error) {
    const std::string& u = spec.url;
    auto starts = [&](const char* s) { return u.rfind(s, 0) == 0; };
    std::string err, path;
    Target t;
    if (starts("file://"))
        return std::make_unique<FileSource>(io, spec, std::move(on_pool), std::move(on_error), std::move(log));
    struct Scheme {
        const char* prefix;
        bool tls;
        uint16_t port;
        int kind;  // 0 http, 2 etcd v2, 3 etcd v3
    };
    static const Scheme schemes[] = {{"http://", false, 80, 0},    {"https://", true, 443, 0},
                                     {"etcd://", false, 2379, 2},  {"etcds://", true, 2379, 2},
                                     {"etcd3://", false, 2379, 3}, {"etcd3s://", true, 2379, 3}};
    for (const auto& s : schemes) {
        if (!starts(s.prefix)) continue;
        if (!split_url(u, std::strlen(s.prefix), s.tls, s.port, t, path, err)) break;
        if (!spec.ca.empty() && !s.tls) {
            err = fmt::format("'{}': ca is for https, etcds and etcd3s URLs", u);
            break;
        }
        t.ca = spec.ca;
        if (s.tls && spec.ca.empty() && log)
            log(conf::LogLevel::warning,
                fmt::format("pool {}: no ca configured: TLS without verifying the server's certificate", u));
        switch (s.kind) {
            case 0:
                return std::make_unique<HttpSource>(io, spec, std::move(on_pool), std::move(on_error), std::move(log),
                                                    t, path);
            case 2:
                return std::make_unique<Etcd2Source>(io, spec, std::move(on_pool), std::move(on_error), std::move(log),
                                                     t, path);
            default:
                return std::make_unique<Etcd3Source>(io, spec, std::move(on_pool), std::move(on_error), std::move(log),
                                                     t, path);
        }
    }
    if (error) *error = err.empty() ? fmt::format("'{}': not a pool source URL", u) : err;
    return nullptr;
}

}  // namespace tern::ctl
