// The speaker: one Session per configured peer, the listener for passive peers,
// and the routes control wants announced (each VIP as a /32 or /128). It sends
// the whole set when a session comes up or asks for a route refresh, and the
// difference when control changes the set. Control thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bgp/io.h"
#include "bgp/session.h"

namespace tern::bgp {

struct Route {
    Prefix prefix;
    uint32_t med = 0;
    friend bool operator==(const Route&, const Route&) = default;
};

struct SpeakerSettings {
    uint32_t local_asn = 0;
    uint32_t router_id = 0;  // host order
    std::optional<Address> next_hop_v4;
    std::optional<Address> next_hop_v6;
    std::vector<uint32_t> communities;
    std::vector<LargeCommunity> large_communities;
    unsigned as_path_prepend = 0;  // extra copies of local_asn towards eBGP peers
    bool listen = true;
    Address listen_address;  // family 0: every address
    uint16_t listen_port = 179;
    std::vector<PeerSettings> peers;  // local_asn and router_id filled in by the speaker
};

class Speaker {
public:
    using Log = std::function<void(const std::string&)>;
    Speaker(SpeakerSettings settings, Transport& transport, Clock& clock, Log log);

    // Starts listening for the peers, once (connections accepted before start()
    // are closed). Returns an error naming the address and port, or empty.
    std::string listen();
    // Starts listening (unless listen() did) and every session. Returns an error
    // (listening failed), or empty.
    std::string start();
    // The complete set of routes to announce from now on; changes are sent at once.
    void announce(std::vector<Route> routes);
    // Graceful stop: withdraws every route, sends CEASE (administrative shutdown)
    // and closes every session; they stay down.
    void stop();
    // A reload's settings, while running: only the sessions whose peer
    // changed are touched. A peer gone is closed (CEASE, peer de-configured);
    // a new one is started; one whose address, port, AS, passive, password
    // or TTL security changed, or every one when local_asn or router_id did,
    // is re-established (CEASE, other configuration change). A kept session
    // takes a new hold time and connect-retry time from its next connection
    // (Session::set_timers). Changed route attributes (next hops, communities,
    // AS_PATH prepending) are announced again to every established session.
    // The listener is opened again when its peers or address changed.
    // Returns one line per thing done (empty: nothing changed).
    std::vector<std::string> reconfigure(SpeakerSettings next);

    const std::vector<std::unique_ptr<Session>>& sessions() const { return sessions_; }
    const std::map<Prefix, uint32_t>& routes() const { return routes_; }

private:
    std::unique_ptr<Session> make_session(PeerSettings p);
    void send_all(Session& s, std::optional<AfiSafi> only);
    void send_routes(Session& s, const std::vector<Route>& reach, const std::vector<Prefix>& unreach);
    // Logs a refused stranger's connection at most once a minute per address.
    void log_refused(const Address& from);

    SpeakerSettings settings_;
    Transport& transport_;
    Clock& clock_;
    Log log_;
    std::vector<std::unique_ptr<Session>> sessions_;
    std::map<Prefix, uint32_t> routes_;  // prefix -> MED
    struct Refused {
        TimePoint logged{};
        uint64_t quiet = 0;  // refused since, not logged
    };
    std::map<Address, Refused> refused_;
    bool listening_ = false;
    bool started_ = false;
};

// The UPDATEs that announce `reach` and withdraw `unreach` to one peer, split
// so that each fits in a message. Pure; exposed for tests.
struct PeerView {
    bool ibgp = false;
    bool ipv4 = true;
    bool ipv6 = false;
};
std::vector<Update> build_updates(const SpeakerSettings& s, PeerView peer, const std::vector<Route>& reach,
                                  const std::vector<Prefix>& unreach);

}  // namespace tern::bgp
