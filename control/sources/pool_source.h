// Pool sources: where a service's pool comes from besides the YAML, kept up
// to date asynchronously on the control thread's io_context.
//   file:///path          a PyBal pool file, re-read when it changes (polled each interval, 1 s)
//   http(s)://host/path   a PyBal pool file over HTTP, fetched each interval (1 s, as PyBal)
//   etcd(s)://host:port/conftool/v1/pools/<dc>/<cluster>/<service>
//                         etcd's v2 keys API: a recursive read, then long-poll
//                         waits from the next index; "index outdated" re-reads
//   etcd3(s)://host:port/<same path>
//                         etcd's v3 API (its JSON gateway): a range read, then a
//                         watch from the next revision, resumed after a disconnect
// A source that fails (unreachable, an HTTP error, garbage) keeps its last
// good pool: it says so through on_error and delivers nothing until it is
// good again. It never delivers an empty pool because of a failure.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/pool_file.h"

namespace tern::ctl {

// A complete pool, sorted by host.
using Pool = std::vector<conf::PoolEntry>;

class PoolSource {
public:
    using OnPool = std::function<void(const Pool&)>;
    // A failure (once per failure, with what failed); "" when good again.
    using OnError = std::function<void(const std::string&)>;
    using Log = std::function<void(conf::LogLevel, const std::string&)>;

    // nullptr, with `error` set, for a URL it cannot use.
    static std::unique_ptr<PoolSource> make(boost::asio::io_context& io, const conf::PoolSource& spec, OnPool on_pool,
                                            OnError on_error, Log log, std::string* error = nullptr);
    virtual ~PoolSource() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    const std::string& url() const { return url_; }

protected:
    std::string url_;
};

}  // namespace tern::ctl
