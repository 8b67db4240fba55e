#include "control/kernel/kernel_view.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tern::ctl {
namespace {

// An address attribute's payload as an IpAddr (4 or 16 bytes).
std::optional<conf::IpAddr> attr_ip(const nlattr* a, int family) {
    const uint16_t len = mnl_attr_get_payload_len(a);
    conf::IpAddr ip;
    if (family == AF_INET && len == 4) {
        ip.family = AF_INET;
    } else if (family == AF_INET6 && len == 16) {
        ip.family = AF_INET6;
    } else {
        return std::nullopt;
    }
    std::memcpy(ip.bytes.data(), mnl_attr_get_payload(a), len);
    return ip;
}

void put_ip(nlmsghdr* nlh, uint16_t type, const conf::IpAddr& ip) {
    mnl_attr_put(nlh, type, ip.is_v4() ? 4 : 16, ip.bytes.data());
}

// The attributes after a message's fixed header of `offset` bytes
// (libmnl's mnl_attr_for_each, without its C casts).
template <typename F>
void for_each_attr(const nlmsghdr* nlh, size_t offset, F&& f) {
    const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
         mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) {
        f(a);
    }
}

// Events arrive in bursts (a flushed table, a dump): a large receive buffer.
constexpr int kEventBuffer = 4 << 20;
// Managed entries the kernel lost (a flush, an interface bounce) are asked
// for again at this period.
constexpr auto kReconcile = std::chrono::seconds(2);

}  // namespace

std::optional<NeighbourMsg> parse_neighbour(const nlmsghdr* nlh) {
    if ((nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH) ||
        mnl_nlmsg_get_payload_len(nlh) < sizeof(ndmsg)) {
        return std::nullopt;
    }
    const auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
    NeighbourMsg m;
    m.deleted = nlh->nlmsg_type == RTM_DELNEIGH;
    m.ifindex = nd->ndm_ifindex;
    m.state = nd->ndm_state;
    bool has_ip = false;
    for_each_attr(nlh, sizeof(ndmsg), [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
            case NDA_DST:
                if (auto ip = attr_ip(a, nd->ndm_family)) {
                    m.ip = *ip;
                    has_ip = true;
                }
                break;
            case NDA_LLADDR:
                if (mnl_attr_get_payload_len(a) == 6) {
                    conf::MacAddr mac;
                    std::memcpy(mac.data(), mnl_attr_get_payload(a), 6);
                    m.mac = mac;
                }
                break;
            case NDA_FLAGS_EXT:
                if (mnl_attr_get_payload_len(a) == 4) m.managed = (mnl_attr_get_u32(a) & NTF_EXT_MANAGED) != 0;
                break;
            default: break;
        }
    });
    if (!has_ip) return std::nullopt;
    return m;
}

std::optional<RouteMsg> parse_route(const nlmsghdr* nlh) {
    if ((nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE) ||
        mnl_nlmsg_get_payload_len(nlh) < sizeof(rtmsg)) {
        return std::nullopt;
    }
    const auto* rt = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
    if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return std::nullopt;
    RouteMsg m;
    m.deleted = nlh->nlmsg_type == RTM_DELROUTE;
    m.table = rt->rtm_table;
    m.type = rt->rtm_type;
    m.dst.addr.family = rt->rtm_family;
    m.dst.length = rt->rtm_dst_len;
    if (m.dst.length > (rt->rtm_family == AF_INET ? 32 : 128)) return std::nullopt;
    for_each_attr(nlh, sizeof(rtmsg), [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
            case RTA_TABLE:
                if (mnl_attr_get_payload_len(a) == 4) m.table = mnl_attr_get_u32(a);
                break;
            case RTA_DST:
                if (auto ip = attr_ip(a, rt->rtm_family)) m.dst.addr = *ip;
                break;
            case RTA_GATEWAY: m.gateway = attr_ip(a, rt->rtm_family); break;
            case RTA_OIF:
                if (mnl_attr_get_payload_len(a) == 4) m.oif = static_cast<int>(mnl_attr_get_u32(a));
                break;
            case RTA_PRIORITY:
                if (mnl_attr_get_payload_len(a) == 4) m.priority = mnl_attr_get_u32(a);
                break;
            case RTA_MULTIPATH: {
                // The first path stands for the route.
                const uint16_t len = mnl_attr_get_payload_len(a);
                if (len < sizeof(rtnexthop)) break;
                const auto* nh = static_cast<const rtnexthop*>(mnl_attr_get_payload(a));
                if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > len) break;
                m.oif = nh->rtnh_ifindex;
                const auto* attrs = reinterpret_cast<const uint8_t*>(nh) + RTNH_LENGTH(0);
                const size_t attrs_len = nh->rtnh_len - RTNH_LENGTH(0);
                for (const auto* na = reinterpret_cast<const nlattr*>(attrs);
                     mnl_attr_ok(na, static_cast<int>(attrs + attrs_len - reinterpret_cast<const uint8_t*>(na)));
                     na = mnl_attr_next(na)) {
                    if (mnl_attr_get_type(na) == RTA_GATEWAY) m.gateway = attr_ip(na, rt->rtm_family);
                }
                break;
            }
            default: break;
        }
    });
    // Host bits beyond the length are the kernel's business, not ours.
    return m;
}

KernelView::KernelView(boost::asio::io_context& io, Log log) : log_(std::move(log)), events_fd_(io), timer_(io) {}

KernelView::~KernelView() {
    timer_.cancel();
    if (events_fd_.is_open()) {
        events_fd_.cancel();
        events_fd_.release();  // mnl_socket_close closes it
    }
    if (events_) mnl_socket_close(events_);
    if (requests_) mnl_socket_close(requests_);
}

std::optional<std::string> KernelView::open(const std::string& ifname, uint32_t mtu,
                                            const std::vector<conf::Prefix>& addresses) {
    ifname_ = ifname;
    ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex_ == 0) return fmt::format("interface {}: {}", ifname, std::strerror(errno));
    events_ = mnl_socket_open(NETLINK_ROUTE);
    requests_ = mnl_socket_open(NETLINK_ROUTE);
    if (!events_ || !requests_) return fmt::format("rtnetlink: {}", std::strerror(errno));
    int size = kEventBuffer;
    // SO_RCVBUFFORCE as root, else what the limit allows.
    if (mnl_socket_setsockopt(events_, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
        mnl_socket_setsockopt(events_, SO_RCVBUF, &size, sizeof size);
    }
    if (mnl_socket_bind(events_, RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE, MNL_SOCKET_AUTOPID) < 0 ||
        mnl_socket_bind(requests_, 0, MNL_SOCKET_AUTOPID) < 0) {
        return fmt::format("rtnetlink: bind: {}", std::strerror(errno));
    }
    if (auto err = set_link(mtu)) return fmt::format("interface {}: {}", ifname, *err);
    if (auto err = set_addresses(addresses)) return err;
    // Subscribed first, then the tables: a change in between arrives twice,
    // which applying a message is indifferent to.
    if (auto err = resync()) return err;
    events_fd_.assign(mnl_socket_get_fd(events_));
    arm();
    reconcile();
    return std::nullopt;
}

std::optional<std::string> KernelView::resync() {
    routes_.clear();
    if (auto err = dump(RTM_GETNEIGH)) return err;
    if (auto err = dump(RTM_GETROUTE)) return err;
    ++version_;
    return std::nullopt;
}

std::optional<std::string> KernelView::dump(uint16_t type) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE * 4);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = ++seq_;
    if (type == RTM_GETNEIGH) {
        auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
        nd->ndm_family = AF_UNSPEC;
        mnl_attr_put_u32(nlh, NDA_IFINDEX, static_cast<uint32_t>(ifindex_));
    } else {
        auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
        rt->rtm_family = AF_UNSPEC;
    }
    if (mnl_socket_sendto(requests_, nlh, nlh->nlmsg_len) < 0) {
        return fmt::format("rtnetlink dump: {}", std::strerror(errno));
    }
    const unsigned portid = mnl_socket_get_portid(requests_);
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(requests_, buf.data(), buf.size());
        if (n < 0) return fmt::format("rtnetlink dump: {}", std::strerror(errno));
        const int r = mnl_cb_run(
            buf.data(), static_cast<size_t>(n), seq_, portid,
            [](const nlmsghdr* m, void* self) {
                static_cast<KernelView*>(self)->handle(m);
                return MNL_CB_OK;
            },
            this);
        if (r == MNL_CB_STOP) return std::nullopt;
        if (r < 0) return fmt::format("rtnetlink dump: {}", std::strerror(errno));
    }
}

std::optional<int> KernelView::request(nlmsghdr* nlh) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(requests_, nlh, nlh->nlmsg_len) < 0) return errno;
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    const ssize_t n = mnl_socket_recvfrom(requests_, buf.data(), buf.size());
    if (n < 0) return errno;
    if (mnl_cb_run(buf.data(), static_cast<size_t>(n), seq_, mnl_socket_get_portid(requests_), nullptr, nullptr) < 0) {
        return errno;
    }
    return std::nullopt;
}

std::optional<std::string> KernelView::set_link(uint32_t mtu) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWLINK;
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex_;
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = IFF_UP;
    if (mtu != 0) mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    if (auto err = request(nlh)) return fmt::format("cannot set it up (mtu {}): {}", mtu, std::strerror(*err));
    return std::nullopt;
}

std::optional<std::string> KernelView::add_address(const conf::Prefix& p) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = static_cast<uint8_t>(p.addr.family);
    ifa->ifa_prefixlen = static_cast<uint8_t>(p.length);
    ifa->ifa_index = static_cast<uint32_t>(ifindex_);
    // IPv6: the address is ours at once (no duplicate address detection delay).
    if (p.addr.is_v6()) ifa->ifa_flags = IFA_F_NODAD;
    put_ip(nlh, IFA_LOCAL, p.addr);
    put_ip(nlh, IFA_ADDRESS, p.addr);
    if (auto err = request(nlh); err && *err != EEXIST) return std::string(std::strerror(*err));
    return std::nullopt;
}

std::optional<std::string> KernelView::set_addresses(const std::vector<conf::Prefix>& addresses) {
    auto same = [](const conf::Prefix& a, const conf::Prefix& b) { return a.addr == b.addr && a.length == b.length; };
    for (const auto& old : addresses_) {
        if (std::none_of(addresses.begin(), addresses.end(), [&](const conf::Prefix& n) { return same(n, old); })) {
            if (auto err = del_address(old)) {
                return fmt::format("interface {}: cannot remove address {}: {}", ifname_, old.str(), *err);
            }
        }
    }
    addresses_.clear();
    for (const auto& p : addresses) {
        if (auto err = add_address(p)) return fmt::format("interface {}: address {}: {}", ifname_, p.str(), *err);
        addresses_.push_back(p);
    }
    return std::nullopt;
}

std::optional<std::string> KernelView::del_address(const conf::Prefix& p) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_DELADDR;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = static_cast<uint8_t>(p.addr.family);
    ifa->ifa_prefixlen = static_cast<uint8_t>(p.length);
    ifa->ifa_index = static_cast<uint32_t>(ifindex_);
    put_ip(nlh, IFA_LOCAL, p.addr);
    if (auto err = request(nlh); err && *err != EADDRNOTAVAIL) return std::string(std::strerror(*err));
    return std::nullopt;
}

void KernelView::arm() {
    events_fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this](const boost::system::error_code& ec) {
                              if (ec) return;
                              on_events();
                              arm();
                          });
}

void KernelView::on_events() {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE * 4);
    for (;;) {
        const ssize_t n = recv(mnl_socket_get_fd(events_), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) {
            // The kernel dropped events: read the tables again.
            log_(conf::LogLevel::warning,
                 fmt::format("kernel: neighbour/route events lost on {}; reading the tables again", ifname_));
            if (auto err = resync()) log_(conf::LogLevel::error, fmt::format("kernel: {}", *err));
            continue;
        }
        if (n <= 0) return;
        mnl_cb_run(
            buf.data(), static_cast<size_t>(n), 0, 0,
            [](const nlmsghdr* m, void* self) {
                static_cast<KernelView*>(self)->handle(m);
                return MNL_CB_OK;
            },
            this);
    }
}

void KernelView::handle(const nlmsghdr* nlh) {
    if (auto n = parse_neighbour(nlh)) {
        if (n->ifindex != ifindex_) return;
        if (n->deleted) {
            // The last MAC stays until another is learned; the entry is asked for again.
            managed_.erase(n->ip);
            return;
        }
        if (n->managed) {
            managed_.insert(n->ip);
        } else {
            managed_.erase(n->ip);
        }
        // Entries being resolved or that failed carry no MAC: the last one stays.
        if (!n->mac || n->state == NUD_NONE || (n->state & (NUD_INCOMPLETE | NUD_FAILED)) != 0) return;
        auto [it, added] = macs_.try_emplace(n->ip, *n->mac);
        if (!added && it->second == *n->mac) return;
        if (!added) {
            log_(conf::LogLevel::info, fmt::format("kernel: {} moved from {} to {} on {}", n->ip.str(),
                                                   conf::mac_str(it->second), conf::mac_str(*n->mac), ifname_));
            it->second = *n->mac;
        }
        if (wanted_.count(n->ip)) ++version_;
        return;
    }
    if (auto r = parse_route(nlh)) {
        if (r->table != RT_TABLE_MAIN || r->type != RTN_UNICAST) return;
        auto same = [&](const RouteMsg& o) {
            return o.dst.addr == r->dst.addr && o.dst.length == r->dst.length && o.priority == r->priority;
        };
        std::erase_if(routes_, same);
        if (!r->deleted) routes_.push_back(*r);
        if (r->oif == ifindex_) ++version_;
    }
}

std::optional<conf::IpAddr> KernelView::route(const conf::IpAddr& ip) const {
    const RouteMsg* best = nullptr;
    for (const auto& r : routes_) {
        if (r.dst.addr.family != ip.family || !r.dst.contains(ip)) continue;
        if (!best || r.dst.length > best->dst.length ||
            (r.dst.length == best->dst.length && r.priority < best->priority)) {
            best = &r;
        }
    }
    if (!best || best->oif != ifindex_) return std::nullopt;
    return best->gateway ? *best->gateway : ip;
}

std::optional<conf::MacAddr> KernelView::mac(const conf::IpAddr& ip) const {
    auto it = macs_.find(ip);
    if (it == macs_.end()) return std::nullopt;
    return it->second;
}

void KernelView::keep_resolved(const std::set<conf::IpAddr>& hops) {
    for (auto it = ours_.begin(); it != ours_.end();) {
        if (hops.count(*it)) {
            ++it;
            continue;
        }
        del_managed(*it);
        it = ours_.erase(it);
    }
    wanted_ = hops;
    for (const auto& ip : wanted_) {
        if (!managed_.count(ip)) add_managed(ip);
    }
}

void KernelView::reconcile() {
    for (const auto& ip : wanted_) {
        if (!managed_.count(ip)) add_managed(ip);
    }
    timer_.expires_after(kReconcile);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) reconcile();
    });
}

void KernelView::add_managed(const conf::IpAddr& ip) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    auto put = [&](uint16_t flags) {
        nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
        nlh->nlmsg_type = RTM_NEWNEIGH;
        nlh->nlmsg_flags = flags;
        auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
        nd->ndm_family = static_cast<uint8_t>(ip.family);
        nd->ndm_ifindex = ifindex_;
        nd->ndm_state = NUD_NONE;
        put_ip(nlh, NDA_DST, ip);
        mnl_attr_put_u32(nlh, NDA_FLAGS_EXT, NTF_EXT_MANAGED);
        return request(nlh);
    };
    // An entry the kernel already has (learned) becomes managed in place.
    std::optional<int> err = put(NLM_F_CREATE | NLM_F_EXCL);
    if (err && *err == EEXIST) err = put(NLM_F_CREATE | NLM_F_REPLACE);
    if (err) {
        log_(conf::LogLevel::error,
             fmt::format("kernel: cannot ask {} to resolve {}: {}", ifname_, ip.str(), std::strerror(*err)));
        return;
    }
    ours_.insert(ip);
    managed_.insert(ip);
}

void KernelView::del_managed(const conf::IpAddr& ip) {
    std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_DELNEIGH;
    auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
    nd->ndm_family = static_cast<uint8_t>(ip.family);
    nd->ndm_ifindex = ifindex_;
    put_ip(nlh, NDA_DST, ip);
    request(nlh);  // gone already is as good
    managed_.erase(ip);
}

}  // namespace tern::ctl
