// A small HTTP/1.1 server on the control thread's io_context (Boost.Beast):
// GET only, bounded requests, keep-alive, idle connections closed after 30 s,
// at most `max_connections` open at once (one more is closed at once). When
// accept fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) it logs and waits before accepting again, never spinning.
// What it answers is up to the handler; control's API (PyBal's /pools,
// /alerts, and /metrics) is in api.h.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

#include "conf/config.h"

namespace tern::ctl {

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
};

struct HttpRequest {
    std::string target;  // path and query, as sent
    std::string accept;  // the Accept header ("" when absent)
};

struct HttpLimits {
    size_t max_connections = 64;  // conf::Http's default
    double accept_backoff_s = 1;  // after accept failed for want of resources
};

class HttpServer {
public:
    using Handler = std::function<HttpResponse(const HttpRequest&)>;
    using Log = std::function<void(conf::LogLevel, const std::string&)>;
    using Limits = HttpLimits;
    HttpServer(boost::asio::io_context& io, Handler handler, Limits limits = {}, Log log = {});
    ~HttpServer();
    // Before listen(): the cap and where the server logs.
    void set_limits(Limits limits, Log log);
    // Starts accepting; returns an error naming the address on failure.
    std::string listen(const conf::IpAddr& address, uint16_t port);
    // The port actually bound (when 0 was asked for).
    uint16_t port() const;
    void stop();
    // Connections open now; connections closed at once because the cap was
    // reached; accepts that failed for want of resources. Since start.
    size_t open_connections() const;
    uint64_t refused() const;
    uint64_t accept_failures() const;

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace tern::ctl
