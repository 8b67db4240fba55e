#include "bgp/speaker.h"

#include <fmt/format.h>

namespace tern::bgp {
namespace {

// Prefixes per UPDATE: 100 /128s take 1,700 bytes, well inside 4,096 with the attributes.
constexpr size_t kPerUpdate = 100;
constexpr AfiSafi kV4{kAfiIpv4, kSafiUnicast};
constexpr AfiSafi kV6{kAfiIpv6, kSafiUnicast};

}  // namespace

std::vector<Update> build_updates(const SpeakerSettings& s, PeerView peer, const std::vector<Route>& reach,
                                  const std::vector<Prefix>& unreach) {
    std::vector<Update> out;
    // Withdrawals first, per family.
    std::vector<Prefix> w4, w6;
    for (const auto& p : unreach) {
        if (p.addr.family == 4 && peer.ipv4) w4.push_back(p);
        if (p.addr.family == 6 && peer.ipv6) w6.push_back(p);
    }
    for (size_t i = 0; i < w4.size(); i += kPerUpdate) {
        Update u;
        u.withdrawn.assign(w4.begin() + i, w4.begin() + std::min(w4.size(), i + kPerUpdate));
        out.push_back(std::move(u));
    }
    for (size_t i = 0; i < w6.size(); i += kPerUpdate) {
        Update u;
        u.mp_unreach = MpUnreach{kV6, {w6.begin() + i, w6.begin() + std::min(w6.size(), i + kPerUpdate)}};
        out.push_back(std::move(u));
    }
    // Announcements, grouped by (family, MED): one attribute set per group.
    std::map<std::pair<int, uint32_t>, std::vector<Prefix>> groups;
    for (const auto& r : reach) {
        const int fam = r.prefix.addr.family;
        if ((fam == 4 && !peer.ipv4) || (fam == 6 && !peer.ipv6)) continue;
        if (fam == 4 && !s.next_hop_v4) continue;
        if (fam == 6 && !s.next_hop_v6) continue;
        groups[{fam, r.med}].push_back(r.prefix);
    }
    Attributes base;
    base.origin = kOriginIgp;
    if (peer.ibgp) {
        base.local_pref = 100;  // RFC 4271 5.1.5: sent to internal peers; the AS_PATH stays empty
    } else {
        base.as_path = {{kAsSequence, std::vector<uint32_t>(1 + s.as_path_prepend, s.local_asn)}};
    }
    base.communities = s.communities;
    base.large_communities = s.large_communities;
    for (const auto& [key, prefixes] : groups) {
        for (size_t i = 0; i < prefixes.size(); i += kPerUpdate) {
            Update u;
            u.attrs = base;
            u.attrs.med = key.second;
            std::vector<Prefix> chunk(prefixes.begin() + i,
                                      prefixes.begin() + std::min(prefixes.size(), i + kPerUpdate));
            if (key.first == 4) {
                u.attrs.next_hop.emplace();
                std::copy_n(s.next_hop_v4->bytes.begin(), 4, u.attrs.next_hop->begin());
                u.nlri = std::move(chunk);
            } else {
                u.mp_reach =
                    MpReach{kV6, Bytes(s.next_hop_v6->bytes.begin(), s.next_hop_v6->bytes.end()), std::move(chunk)};
            }
            out.push_back(std::move(u));
        }
    }
    return out;
}

Speaker::Speaker(SpeakerSettings settings, Transport& transport, Clock& clock, Log log)
    : settings_(std::move(settings)), transport_(transport), clock_(clock), log_(std::move(log)) {
    for (auto p : settings_.peers) {
        p.local_asn = settings_.local_asn;
        p.router_id = settings_.router_id;
        Session::Events ev;
        ev.established = [this](Session& s) { send_all(s, std::nullopt); };
        ev.route_refresh = [this](Session& s, AfiSafi f) {
            log_(fmt::format("bgp peer {}: route refresh for AFI {} SAFI {}: sending our routes again",
                             s.settings().address.str(), f.afi, f.safi));
            send_all(s, f);
        };
        ev.state_changed = [this](Session& s, State from, State to, const std::string& why) {
            log_(fmt::format("bgp peer {} AS {}: {} -> {} ({})", s.settings().address.str(), s.settings().remote_asn,
                             to_string(from), to_string(to), why));
        };
        sessions_.push_back(std::make_unique<Session>(p, transport_, clock_, std::move(ev)));
    }
}

std::string Speaker::listen() {
    if (listening_) return {};
    listening_ = true;
    std::string error;
    if (settings_.listen && !sessions_.empty()) {
        std::vector<std::pair<Address, SocketOptions>> peers;
        for (const auto& s : sessions_) peers.emplace_back(s->settings().address, s->settings().socket);
        error = transport_.listen(settings_.listen_address, settings_.listen_port, peers,
                                  [this](std::unique_ptr<Connection> c) {
                                      const Address from = c->remote();
                                      for (auto& s : sessions_) {
                                          if (s->settings().address == from) {
                                              s->accept(std::move(c));
                                              return;
                                          }
                                      }
                                      log_(fmt::format("bgp: refused a connection from {}: not a peer", from.str()));
                                      c->close();
                                  });
    }
    return error;
}

std::string Speaker::start() {
    if (started_) return {};
    started_ = true;
    std::string error = listen();
    for (auto& s : sessions_) s->start();
    return error;
}

void Speaker::announce(std::vector<Route> routes) {
    std::map<Prefix, uint32_t> next;
    for (const auto& r : routes) next[r.prefix] = r.med;
    std::vector<Route> reach;
    std::vector<Prefix> unreach;
    for (const auto& [p, med] : next) {
        auto it = routes_.find(p);
        if (it == routes_.end() || it->second != med) reach.push_back({p, med});
    }
    for (const auto& [p, med] : routes_) {
        if (!next.count(p)) unreach.push_back(p);
    }
    routes_ = std::move(next);
    if (reach.empty() && unreach.empty()) return;
    log_(fmt::format("bgp: announcing {} route{}, withdrawing {}", reach.size(), reach.size() == 1 ? "" : "s",
                     unreach.size()));
    for (auto& s : sessions_) send_routes(*s, reach, unreach);
}

void Speaker::stop() {
    std::vector<Prefix> all;
    for (const auto& [p, med] : routes_) all.push_back(p);
    routes_.clear();
    for (auto& s : sessions_) {
        if (s->state() == State::established && !all.empty()) {
            log_(fmt::format("bgp peer {}: withdrawing {} route{}", s->settings().address.str(), all.size(),
                             all.size() == 1 ? "" : "s"));
        }
        send_routes(*s, {}, all);
        s->stop(Notification{err::kCease, err::kAdminShutdown, {}});
    }
}

void Speaker::send_all(Session& s, std::optional<AfiSafi> only) {
    std::vector<Route> reach;
    for (const auto& [p, med] : routes_) {
        if (only && (p.addr.family == 4 ? kV4 : kV6) != *only) continue;
        reach.push_back({p, med});
    }
    send_routes(s, reach, {});
}

void Speaker::send_routes(Session& s, const std::vector<Route>& reach, const std::vector<Prefix>& unreach) {
    if (s.state() != State::established) return;
    PeerView v;
    v.ibgp = s.settings().remote_asn == settings_.local_asn;
    v.ipv4 = s.carries(kV4);
    v.ipv6 = s.carries(kV6);
    for (const auto& u : build_updates(settings_, v, reach, unreach)) s.send(u);
}

}  // namespace tern::bgp
