#include "control/ops/http_server.h"

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
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
    tcp::acceptor acceptor;
    bool stopped = false;
    State(asio::io_context& i, Handler h) : io(i), handler(std::move(h)), acceptor(i) {}
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, std::shared_ptr<HttpServer::State> server)
        : stream_(std::move(socket)), server_(std::move(server)) {}

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

void accept(const std::shared_ptr<HttpServer::State>& s) {
    s->acceptor.async_accept([s](beast::error_code ec, tcp::socket socket) {
        if (s->stopped) return;
        if (!ec) std::make_shared<Session>(std::move(socket), s)->read();
        accept(s);
    });
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, Handler handler)
    : state_(std::make_shared<State>(io, std::move(handler))) {}

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
    beast::error_code ec;
    state_->acceptor.close(ec);
}

}  // namespace tern::ctl
