#include "bgp/speaker.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

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
    for (const auto& p : settings_.peers) sessions_.push_back(make_session(p));
}

std::unique_ptr<Session> Speaker::make_session(PeerSettings p) {
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
    return std::make_unique<Session>(p, transport_, clock_, std::move(ev));
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
                                      log_refused(from);
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

namespace {

// What a session cannot change without a new connection.
bool same_identity(const PeerSettings& a, const PeerSettings& b) {
    return a.address == b.address && a.port == b.port && a.remote_asn == b.remote_asn && a.local_asn == b.local_asn &&
           a.router_id == b.router_id && a.passive == b.passive && a.socket.md5_password == b.socket.md5_password &&
           a.socket.ttl_security == b.socket.ttl_security;
}

bool same_attributes(const SpeakerSettings& a, const SpeakerSettings& b) {
    return a.local_asn == b.local_asn && a.next_hop_v4 == b.next_hop_v4 && a.next_hop_v6 == b.next_hop_v6 &&
           a.communities == b.communities && a.large_communities == b.large_communities &&
           a.as_path_prepend == b.as_path_prepend;
}

}  // namespace

std::vector<std::string> Speaker::reconfigure(SpeakerSettings next) {
    std::vector<std::string> done;
    const bool attributes = !same_attributes(settings_, next);
    bool listener = next.listen != settings_.listen || next.listen_address != settings_.listen_address ||
                    next.listen_port != settings_.listen_port;
    settings_ = std::move(next);
    std::vector<std::unique_ptr<Session>> kept;
    for (auto& p : settings_.peers) {
        p.local_asn = settings_.local_asn;
        p.router_id = settings_.router_id;
        auto it = std::find_if(sessions_.begin(), sessions_.end(),
                               [&](const auto& s) { return s && s->settings().address == p.address; });
        if (it != sessions_.end() && same_identity((*it)->settings(), p)) {
            Session& s = **it;
            if (s.settings().hold_time != p.hold_time || s.settings().connect_retry != p.connect_retry) {
                done.push_back(fmt::format("bgp peer {}: hold time {} s, connect retry {} s from its next connection",
                                           p.address.str(), p.hold_time, p.connect_retry));
                s.set_timers(p.hold_time, p.connect_retry);
            }
            kept.push_back(std::move(*it));
            continue;
        }
        listener = true;
        if (it != sessions_.end()) {
            done.push_back(fmt::format("bgp peer {}: settings changed, session re-established", p.address.str()));
            (*it)->stop(Notification{err::kCease, err::kConfigChange, {}});
            it->reset();
        } else {
            done.push_back(fmt::format("bgp peer {}: added", p.address.str()));
        }
        kept.push_back(make_session(p));
        if (started_) kept.back()->start();
    }
    for (auto& s : sessions_) {
        if (!s) continue;
        listener = true;
        done.push_back(fmt::format("bgp peer {}: removed, session closed", s->settings().address.str()));
        std::vector<Prefix> all;
        for (const auto& [p, med] : routes_) all.push_back(p);
        send_routes(*s, {}, all);
        s->stop(Notification{err::kCease, err::kPeerDeconfigured, {}});
    }
    sessions_ = std::move(kept);
    if (attributes) {
        done.push_back("bgp: route attributes changed, announcing every route again");
        for (auto& s : sessions_) send_all(*s, std::nullopt);
    }
    if (listener && listening_) {
        transport_.unlisten();
        listening_ = false;
        if (auto err = listen(); !err.empty()) done.push_back("bgp: " + err);
    }
    return done;
}

void Speaker::log_refused(const Address& from) {
    constexpr auto kQuiet = std::chrono::minutes(1);
    const TimePoint now = clock_.now();
    if (refused_.size() > 1024) std::erase_if(refused_, [&](const auto& e) { return now - e.second.logged >= kQuiet; });
    auto [it, fresh] = refused_.try_emplace(from);
    Refused& r = it->second;
    if (!fresh && now - r.logged < kQuiet) {
        ++r.quiet;
        return;
    }
    log_(fmt::format("bgp: refused a connection from {}: not a peer{}", from.str(),
                     r.quiet ? fmt::format(" ({} more refused in the last minute, not logged)", r.quiet) : ""));
    r.logged = now;
    r.quiet = 0;
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
