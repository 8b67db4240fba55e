#include "health/http_client.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

namespace tern::health {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// Bytes a URL's host or target may hold: no spaces or controls, which would
// let a config line split the request.
bool clean(std::string_view s) {
    for (unsigned char c : s) {
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

// The server's reason phrase as it may appear in a log line: printable and short.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (out.size() >= 64) break;
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

}  // namespace

std::optional<HttpUrl> parse_http_url(std::string_view text, std::string* error) {
    auto fail = [&](const std::string& why) -> std::optional<HttpUrl> {
        if (error) *error = fmt::format("'{}' {}", text, why);
        return std::nullopt;
    };
    HttpUrl u;
    std::string_view rest;
    if (text.starts_with("http://")) {
        rest = text.substr(7);
    } else if (text.starts_with("https://")) {
        u.tls = true;
        rest = text.substr(8);
    } else {
        return fail("is not an http:// or https:// URL");
    }
    const size_t end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    std::string_view after = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (authority.empty()) return fail("has no host");
    if (authority.find('@') != std::string_view::npos) return fail("has user information, which is not supported");
    if (!clean(authority)) return fail("has a space or control character in its host");
    std::string_view port;
    if (authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return fail("has a bad IPv6 address in brackets");
        u.host = std::string(authority.substr(1, close - 1));
        boost::system::error_code ec;
        asio::ip::make_address_v6(u.host, ec);
        if (ec) return fail("has a bad IPv6 address in brackets");
        const std::string_view tail = authority.substr(close + 1);
        if (!tail.empty()) {
            if (tail.front() != ':') return fail("has text after the IPv6 address");
            port = tail.substr(1);
            if (port.empty()) return fail("has an empty port");
        }
    } else {
        const size_t colon = authority.find(':');
        u.host = std::string(authority.substr(0, colon));
        if (u.host.empty()) return fail("has no host");
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) return fail("has an empty port");
        }
    }
    u.port = u.tls ? 443 : 80;
    if (!port.empty()) {
        unsigned long n = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || n > 65535) return fail("has a bad port");
            n = n * 10 + static_cast<unsigned>(c - '0');
        }
        if (n == 0 || n > 65535) return fail("has a bad port");
        u.port = static_cast<uint16_t>(n);
    }
    u.authority = std::string(authority);
    after = after.substr(0, after.find('#'));
    if (!clean(after)) return fail("has a space or control character in its path");
    u.target = after.empty() || after.front() != '/' ? "/" + std::string(after) : std::string(after);
    return u;
}

namespace {

// One GET over Stream: tcp::socket for http://, ssl::stream<tcp::socket> for
// https://. Every handler holds the object alive and does nothing once it
// has finished (done, failed, timed out, cancelled).
template <class Stream>
class Get final : public HttpGet, public std::enable_shared_from_this<Get<Stream>> {
public:
    template <class... StreamArgs>
    Get(asio::io_context& io, const tcp::endpoint& to, const HttpUrl& url, const HttpOptions& opt, Done done,
        StreamArgs&&... stream_args)
        : stream_(std::forward<StreamArgs>(stream_args)...),
          deadline_(io),
          to_(to),
          url_(url),
          opt_(opt),
          done_(std::move(done)) {}

    void run() {
        // read_body bounds the read, whatever length the server announces.
        // (Not boost::none: Boost 1.74 compares the length against it and
        // fails every body.)
        parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
        start_ = std::chrono::steady_clock::now();
        deadline_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(opt_.timeout)));
        deadline_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) self->timed_out();
        });
        socket().async_connect(
            to_, [self = this->shared_from_this()](const boost::system::error_code& ec) { self->connected(ec); });
    }

    void cancel() override {
        done_ = nullptr;
        close();
    }

private:
    enum class Stage { connect, tls, request, header, body };

    tcp::socket& socket() {
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
            return stream_;
        } else {
            return stream_.next_layer();
        }
    }

    void connected(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) return fail(ec);
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
            send();
        } else {
            stage_ = Stage::tls;
            SSL* ssl = stream_.native_handle();
            const bool literal = is_ip_literal(url_.host);
            // SNI carries names only (RFC 6066); the name check takes either.
            if (!literal && SSL_set_tlsext_host_name(ssl, url_.host.c_str()) != 1) {
                return fail_text(fmt::format("TLS setup: cannot set SNI to '{}'", url_.host));
            }
            if (opt_.verify_host) {
                const int set = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str())
                                        : SSL_set1_host(ssl, url_.host.c_str());
                if (set != 1) return fail_text(fmt::format("TLS setup: cannot check the name '{}'", url_.host));
            }
            stream_.async_handshake(
                ssl::stream_base::client,
                [self = this->shared_from_this()](const boost::system::error_code& e) { self->handshaken(e); });
        }
    }

    void handshaken(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) {
            if constexpr (!std::is_same_v<Stream, tcp::socket>) {
                SSL* ssl = stream_.native_handle();
                const long v = SSL_get_verify_result(ssl);
                if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0 && v != X509_V_OK) {
                    return fail_text(
                        fmt::format("TLS handshake: certificate verify failed: {}", X509_verify_cert_error_string(v)));
                }
            }
            return fail(ec);
        }
        send();
    }

    void send() {
        stage_ = Stage::request;
        request_ = {http::verb::get, url_.target, 11};
        request_.set(http::field::host, url_.authority);
        request_.set(http::field::user_agent, "tern-health");
        request_.set(http::field::accept, "*/*");
        request_.set(http::field::connection, "close");
        http::async_write(
            stream_, request_,
            [self = this->shared_from_this()](const boost::system::error_code& ec, size_t) { self->sent(ec); });
    }

    void sent(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) return fail(ec);
        stage_ = Stage::header;
        http::async_read_header(
            stream_, buffer_, parser_,
            [self = this->shared_from_this()](const boost::system::error_code& e, size_t) { self->got_header(e); });
    }

    void got_header(const boost::system::error_code& ec) {
        if (finished_) return;
        if (ec) return fail(ec);
        const auto& h = parser_.get();
        response_.status = h.result_int();
        const auto reason = h.reason();
        response_.reason = printable(std::string_view(reason.data(), reason.size()));
        for (const auto& name : opt_.keep_headers) {
            if (auto it = h.find(name); it != h.end()) {
                response_.headers[name] = printable(std::string_view(it->value().data(), it->value().size()));
            }
        }
        if (response_.reason.empty()) {
            const auto standard = http::obsolete_reason(h.result());
            response_.reason.assign(standard.data(), standard.size());
        }
        stage_ = Stage::body;
        read_body();
    }

    void read_body() {
        if (parser_.is_done()) return succeed();
        if (body_read_ >= opt_.read_body) {
            response_.truncated = true;
            return succeed();
        }
        auto& b = parser_.get().body();
        b.data = chunk_.data();
        b.size = std::min(chunk_.size(), opt_.read_body - body_read_);
        http::async_read(
            stream_, buffer_, parser_,
            [self = this->shared_from_this()](const boost::system::error_code& ec, size_t) { self->got_body(ec); });
    }

    void got_body(boost::system::error_code ec) {
        if (finished_) return;
        if (ec == http::error::need_buffer) ec = {};
        if (ec) return fail(ec);
        const auto& b = parser_.get().body();
        const size_t n = std::min(chunk_.size(), opt_.read_body - body_read_) - b.size;
        if (response_.body.size() < opt_.keep_body) {
            response_.body.append(chunk_.data(), std::min(n, opt_.keep_body - response_.body.size()));
        }
        body_read_ += n;
        read_body();
    }

    void timed_out() {
        if (finished_) return;
        static constexpr const char* doing[] = {"connecting", "in the TLS handshake", "sending the request",
                                                "waiting for the response", "reading the body"};
        fail_text(fmt::format("timeout after {:g} s {}", opt_.timeout, doing[static_cast<int>(stage_)]));
    }

    void fail(const boost::system::error_code& ec) {
        static constexpr const char* what[] = {"connect", "TLS handshake", "request", "response", "response body"};
        std::string text = ec.message();
        if (ec == http::error::end_of_stream || ec == asio::error::eof) text = "connection closed by the server";
        fail_text(fmt::format("{}: {}", what[static_cast<int>(stage_)], text));
    }

    void fail_text(std::string error) {
        response_.ok = false;
        response_.error = std::move(error);
        finish();
    }

    void succeed() {
        response_.ok = true;
        finish();
    }

    void finish() {
        response_.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        close();
        // Last: the callback may drop the owner's handle to this object.
        if (auto done = std::exchange(done_, nullptr)) done(response_);
    }

    void close() {
        finished_ = true;
        deadline_.cancel();
        boost::system::error_code ignored;
        socket().close(ignored);
    }

    Stream stream_;
    asio::steady_timer deadline_;
    tcp::endpoint to_;
    HttpUrl url_;
    HttpOptions opt_;
    Done done_;
    std::chrono::steady_clock::time_point start_;
    Stage stage_ = Stage::connect;
    bool finished_ = false;
    http::request<http::empty_body> request_;
    // The header's buffer is bounded; the body goes through chunk_, never
    // growing with what the server sends.
    boost::beast::flat_buffer buffer_{16 * 1024};
    http::response_parser<http::buffer_body> parser_;
    std::array<char, 4096> chunk_{};
    size_t body_read_ = 0;
    HttpResponse response_;
};

}  // namespace

std::shared_ptr<HttpGet> http_get(asio::io_context& io, const tcp::endpoint& to, const HttpUrl& url,
                                  const HttpOptions& opt, HttpGet::Done done) {
    if (url.tls) {
        if (!opt.tls) throw std::invalid_argument("http_get: an https:// URL needs a TLS context");
        auto g = std::make_shared<Get<ssl::stream<tcp::socket>>>(io, to, url, opt, std::move(done), io, *opt.tls);
        g->run();
        return g;
    }
    auto g = std::make_shared<Get<tcp::socket>>(io, to, url, opt, std::move(done), io);
    g->run();
    return g;
}

std::shared_ptr<ssl::context> tls_client_context(bool verify, const std::string& ca_file, std::string* error) {
    // Any thread may build monitors; the contexts themselves are safe to share.
    static std::mutex mu;
    static std::map<std::pair<bool, std::string>, std::weak_ptr<ssl::context>> cache;
    std::lock_guard lock(mu);
    const auto key = std::make_pair(verify, verify ? ca_file : std::string());
    if (auto c = cache[key].lock()) return c;
    std::erase_if(cache, [](const auto& kv) { return kv.second.expired(); });
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3, ec);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    // A server closing without close_notify ends the body, as over plain TCP.
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (verify) {
        ctx->set_verify_mode(ssl::verify_peer, ec);
        // OpenSSL directly: Asio 1.74 names OpenSSL 3's errors "asio.ssl error".
        const int loaded = ca_file.empty()
                               ? SSL_CTX_set_default_verify_paths(ctx->native_handle())
                               : SSL_CTX_load_verify_locations(ctx->native_handle(), ca_file.c_str(), nullptr);
        if (loaded != 1) {
            const unsigned long e = ERR_get_error();
            ERR_clear_error();
            const char* why = ERR_reason_error_string(e);
            if (ERR_GET_LIB(e) == ERR_LIB_SYS) why = std::strerror(ERR_GET_REASON(e));
            if (error) {
                *error = ca_file.empty()
                             ? fmt::format("cannot load the system CA store: {}", why ? why : "unknown error")
                             : fmt::format("cannot load ca-file '{}': {}", ca_file, why ? why : "unknown error");
            }
            return nullptr;
        }
    } else {
        // PyBal does not verify: a health check asks whether the server answers.
        ctx->set_verify_mode(ssl::verify_none, ec);
    }
    cache[key] = ctx;
    return ctx;
}

}  // namespace tern::health
