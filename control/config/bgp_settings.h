// From the parsed config to what the BGP speaker announces and how: control
// translates conf/'s plain structs into bgp/'s own settings, so that bgp/
// knows nothing of the config file.
#pragma once

#include <vector>

#include "bgp/speaker.h"
#include "conf/config.h"

namespace tern::ctl {

bgp::Address to_address(const conf::IpAddr& ip);
// Requires config.bgp.
bgp::SpeakerSettings speaker_settings(const conf::Config& config);
// Every VIP once, as a host route with its MED (the services' bgp_med or bgp.med).
std::vector<bgp::Route> vip_routes(const conf::Config& config);

}  // namespace tern::ctl
