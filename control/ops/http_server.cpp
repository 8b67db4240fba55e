#include "control/ops/http_server.h"

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace tern::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::State {
    asio::io_context& io;
    Handler handler;
    Limits limits;
    Log log;
    tcp::acceptor acceptor;
    asio::steady_timer backoff;
    bool stopped = false;
    size_t open = 0;
    uint64_t refused = 0;
    uint64_t accept_failures = 0;
    std::chrono::steady_clock::time_point last_refusal_log{};
    State(asio::io_context& i, Handler h, Limits l, Log lg)
        : io(i), handler(std::move(h)), limits(l), log(std::move(lg)), acceptor(i), backoff(i) {}
    void say(conf::LogLevel level, const std::string& line) const {
        if (log) log(level, "http api: " + line);
    }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, std::shared_ptr<HttpServer::State> server)
        : stream_(std::move(socket)), server_(std::move(server)) {
        ++server_->open;
    }
    ~Session() { --server_->open; }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void read() {
        parser_.emplace();
        parser_->header_limit(8 * 1024);
        parser_->body_limit(0);  // GET only
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

private:
    void on_read(beast::error_code ec) {
        if (ec || server_->stopped) {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
            return;
        }
        const auto& req = parser_->get();
        HttpResponse r;
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
            r = {405, "text/plain", "only GET is served here\n"};
        } else {
            HttpRequest q;
            q.target = std::string(req.target());
            if (auto it = req.find(http::field::accept); it != req.end()) q.accept = std::string(it->value());
            try {
                r = server_->handler(q);
            } catch (const std::exception& e) {
                r = {500, "text/plain", fmt::format("internal error: {}\n", e.what())};
            }
        }
        auto res =
            std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), req.version());
        res->set(http::field::server, "tern");
        res->set(http::field::content_type, r.content_type);
        res->keep_alive(req.keep_alive());
        if (req.method() != http::verb::head) res->body() = std::move(r.body);
        res->prepare_payload();
        http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code wec, size_t) {
            if (wec || !res->keep_alive()) {
                beast::error_code ignored;
                self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                return;
            }
            self->read();
        });
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_{16 * 1024};
    std::optional<http::request_parser<http::empty_body>> parser_;
    std::shared_ptr<HttpServer::State> server_;
};

bool out_of_resources(const beast::error_code& ec) {
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
           ec == beast::error_code(ENFILE, boost::system::system_category());
}

void accept(const std::shared_ptr<HttpServer::State>& s) {
    s->acceptor.async_accept([s](beast::error_code ec, tcp::socket socket) {
        if (s->stopped || ec == asio::error::operation_aborted) return;
        if (out_of_resources(ec)) {
            // The connection stays in the backlog; accepting again at once would
            // fail again at once. Wait: descriptors come back as others close.
            ++s->accept_failures;
            s->say(conf::LogLevel::error,
                   fmt::format("accept: {}; accepting again in {} s", ec.message(), s->limits.accept_backoff_s));
            s->backoff.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(s->limits.accept_backoff_s)));
            s->backoff.async_wait([s](const beast::error_code& tec) {
                if (!tec && !s->stopped) accept(s);
            });
            return;
        }
        if (!ec) {
            if (s->open >= s->limits.max_connections) {
                ++s->refused;
                const auto now = std::chrono::steady_clock::now();
                if (now - s->last_refusal_log > std::chrono::seconds(10)) {
                    s->last_refusal_log = now;
                    s->say(conf::LogLevel::warning,
                           fmt::format("{} connections open, the most allowed (http.max_connections): closing new "
                                       "ones ({} so far)",
                                       s->open, s->refused));
                }
                beast::error_code ignored;
                socket.close(ignored);
            } else {
                std::make_shared<Session>(std::move(socket), s)->read();
            }
        }
        accept(s);
    });
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, Handler handler, Limits limits, Log log)
    : state_(std::make_shared<State>(io, std::move(handler), limits, std::move(log))) {}

void HttpServer::set_limits(Limits limits, Log log) {
    state_->limits = limits;
    state_->log = std::move(log);
}

size_t HttpServer::open_connections() const { return state_->open; }
uint64_t HttpServer::refused() const { return state_->refused; }
uint64_t HttpServer::accept_failures() const { return state_->accept_failures; }

HttpServer::~HttpServer() { stop(); }

std::string HttpServer::listen(const conf::IpAddr& address, uint16_t port) {
    beast::error_code ec;
    const auto ip = asio::ip::make_address(address.str(), ec);
    if (ec) return fmt::format("{}: {}", address.str(), ec.message());
    const tcp::endpoint ep(ip, port);
    auto& a = state_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        a.close(ec);
        return fmt::format("cannot listen on {}:{}: {}", address.str(), port, ec.message());
    }
    accept(state_);
    return "";
}

uint16_t HttpServer::port() const {
    beast::error_code ec;
    auto ep = state_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void HttpServer::stop() {
    if (state_->stopped) return;
    state_->stopped = true;
    state_->backoff.cancel();
    beast::error_code ec;
    state_->acceptor.close(ec);
}

}  // namespace tern::ctl
