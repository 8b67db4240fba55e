// `tern replay --events FILE`: control events pinned to capture times.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "control/state/control_state.h"

namespace tern::ctl {

struct Event {
    uint64_t at_us = 0;   // capture time: applied before the first packet at or after it
    std::string action;   // weight | pool | depool | down | up | reload
    std::string service;  // empty: every service with `host`
    std::string host;
    uint32_t weight = 0;
    std::string config;  // reload: the new config file
    std::string where;   // "file:line" for messages
};

struct EventsResult {
    std::vector<Event> events;  // in file order, which must be time order
    std::vector<conf::Error> errors;
};

// The file is a YAML list of maps: {at: SECONDS, action: ..., service: ...,
// host: ..., weight: N, config: FILE}; `at` is a capture timestamp in
// seconds (decimals allowed), as tcpdump -tt prints it.
EventsResult load_events(const std::string& path);

// Applies one event through the control state's door, as the console and
// monitors would in `tern run` (down/up under the depool threshold); returns
// an error naming the input.
std::optional<std::string> apply_event(const Event& e, ControlState& state);

}  // namespace tern::ctl
