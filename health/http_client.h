// A one-shot HTTP(S) GET for health checks (and anything else that fetches
// a URL from the control thread): it connects to an address it is given, not
// to the URL's host, sends the URL's host as the Host header and as TLS SNI,
// bounds the whole exchange with one deadline, and reads a bounded amount of
// what the server sends. Runs on the io_context's thread; no DNS, no threads.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::health {

struct HttpUrl {
    bool tls = false;       // https://
    std::string host;       // a name or an address literal (IPv6 without brackets)
    std::string authority;  // host[:port] as written: the Host header
    uint16_t port = 0;      // the URL's port, else 80 or 443
    std::string target;     // path and query, "/" when the URL has none; never the #fragment
};
// nullopt, with `error` saying why, unless `text` is http(s)://host[:port][/path][?query].
std::optional<HttpUrl> parse_http_url(std::string_view text, std::string* error = nullptr);

struct HttpOptions {
    double timeout = 5;                     // the whole exchange: connect, TLS, request, response
    size_t read_body = 64 * 1024;           // body bytes read at most; the rest is not waited for
    size_t keep_body = 0;                   // of those, kept in HttpResponse::body
    bool verify_host = false;               // the certificate must name the URL's host
    std::vector<std::string> keep_headers;  // response headers to keep (e.g. X-Etcd-Index)
    // For https://; its verify mode decides whether the chain is checked.
    std::shared_ptr<boost::asio::ssl::context> tls;
};

struct HttpResponse {
    bool ok = false;      // a response arrived: its header, and its body up to read_body
    std::string error;    // when !ok: what failed ("connect: Connection refused", "timeout after 5 s ...")
    unsigned status = 0;  // when ok
    std::string reason;   // the reason phrase (printable, bounded), or the standard one if none came
    std::string body;     // the first keep_body bytes of the body
    std::map<std::string, std::string> headers;  // those of keep_headers that came (bounded)
    bool truncated = false;                      // the body was longer than read_body
    double duration_s = 0;                       // from start to the outcome
};

// One GET in flight. Dropping the handle does not stop it; cancel() does.
class HttpGet {
public:
    using Done = std::function<void(const HttpResponse&)>;
    virtual ~HttpGet() = default;
    // Closes the connection and the deadline; `done` is not called after this.
    virtual void cancel() = 0;
};

// Starts a GET of `url` from `to`; `done` is called once, on the io_context's
// thread, unless cancelled first. https:// needs `opt.tls`.
std::shared_ptr<HttpGet> http_get(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& to,
                                  const HttpUrl& url, const HttpOptions& opt, HttpGet::Done done);

// A TLS client context, shared by every user asking for the same (verify,
// ca_file) while any holds it: thousands of monitors need not each load the
// CA store. verify: check the chain against `ca_file`, or the system store
// when empty. nullptr, with `error` set, when `ca_file` does not load.
std::shared_ptr<boost::asio::ssl::context> tls_client_context(bool verify, const std::string& ca_file,
                                                              std::string* error = nullptr);

}  // namespace tern::health
