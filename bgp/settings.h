// From the parsed config to what the speaker announces and how: the one place
// bgp/ reads conf/ (plain structs, no YAML).
#pragma once

#include <vector>

#include "bgp/speaker.h"
#include "conf/config.h"

namespace tern::bgp {

Address to_address(const conf::IpAddr& ip);
// Requires config.bgp.
SpeakerSettings speaker_settings(const conf::Config& config);
// Every VIP once, as a host route with its MED (the services' bgp_med or bgp.med).
std::vector<Route> vip_routes(const conf::Config& config);

}  // namespace tern::bgp
