// ProxyFetch's HTTP responses under fuzzing: the bytes a server answers a
// GET with, read by health's HTTP client (health/http_client.cpp, which
// ProxyFetch and the pool sources use) exactly as in `tern run`: a real
// connection on loopback to a server in this process that reads the
// request, sends the input and closes. The first input byte picks the
// client's limits (body bytes read and kept, headers kept); the rest is the
// response. Checked besides "no crash" (ASan/UBSan):
// - the client answers once; a failure says what failed;
// - a response has a 3-digit status, a printable reason and printable kept
//   headers (at most those asked for), at most keep_body bytes of body, and
//   is truncated only when read_body bytes came.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "health/http_client.h"
#include "test/fuzz/fuzz_check.h"

namespace {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace tern::health;

void require(bool ok, const char* what) { tern::fuzz::require(ok, "http_fuzz", what); }

bool printable(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c != 0x7f; });
}

struct Server {
    asio::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
};

// One connection's server side: read the request, send `response`, close
// the sending side, wait for the client to close.
void serve(Server& s, std::shared_ptr<std::string> response) {
    auto sock = std::make_shared<tcp::socket>(s.io);
    s.acceptor.async_accept(*sock, [sock, response](const boost::system::error_code& ec) {
        if (ec) return;
        auto req = std::make_shared<asio::streambuf>();
        asio::async_read_until(
            *sock, *req, "\r\n\r\n", [sock, req, response](const boost::system::error_code& e, size_t) {
                if (e) return;
                asio::async_write(
                    *sock, asio::buffer(*response), [sock, response](const boost::system::error_code& w, size_t) {
                        boost::system::error_code ignored;
                        if (w) {
                            sock->close(ignored);
                            return;
                        }
                        sock->shutdown(tcp::socket::shutdown_send, ignored);
                        auto sink = std::make_shared<std::array<char, 4096>>();
                        // Until the client closes: a read to EOF (or an error).
                        auto loop = std::make_shared<std::function<void()>>();
                        *loop = [sock, sink, loop] {
                            sock->async_read_some(asio::buffer(*sink),
                                                  [sock, sink, loop](const boost::system::error_code& r, size_t) {
                                                      if (r) {
                                                          boost::system::error_code ig;
                                                          sock->close(ig);
                                                          *loop = nullptr;  // the cycle ends here
                                                          return;
                                                      }
                                                      (*loop)();
                                                  });
                        };
                        (*loop)();
                    });
            });
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    static Server server;
    static const HttpUrl url = *parse_http_url("http://en.wikipedia.org/wiki/Special:BlankPage");
    HttpOptions opt;
    opt.timeout = 10;
    static constexpr size_t kRead[] = {64 * 1024, 16, 1024, 0};
    static constexpr size_t kKeep[] = {0, 64 * 1024, 8, 4096};
    opt.read_body = kRead[data[0] & 3];
    opt.keep_body = kKeep[(data[0] >> 2) & 3];
    if (data[0] & 0x10) opt.keep_headers = {"X-Etcd-Index", "Location"};
    auto response = std::make_shared<std::string>(reinterpret_cast<const char*>(data) + 1, size - 1);

    serve(server, response);
    int answers = 0;
    HttpResponse got;
    auto get = http_get(server.io, server.acceptor.local_endpoint(), url, opt, [&](const HttpResponse& r) {
        ++answers;
        got = r;
    });
    server.io.run();
    server.io.restart();
    require(answers == 1, "the client answers once");
    if (!got.ok) {
        require(!got.error.empty(), "a failure says what failed");
        return 0;
    }
    require(got.status <= 999, "a status has 3 digits");
    require(printable(got.reason) && got.reason.size() <= 64, "the reason is printable and short");
    require(got.body.size() <= opt.keep_body, "at most keep_body bytes kept");
    for (const auto& [name, value] : got.headers) {
        require(std::find(opt.keep_headers.begin(), opt.keep_headers.end(), name) != opt.keep_headers.end(),
                "only the headers asked for");
        require(printable(value), "a kept header is printable");
    }
    if (got.truncated) require(opt.read_body < size, "truncated only when read_body bytes came");
    return 0;
}
