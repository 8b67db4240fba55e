// The console's packet capture: a port's packets, both directions, into a
// pcapng file with a pcap-filter expression (control/ops/capture.h).
#include <fmt/format.h>

#include "control/ops/console_commands.h"

namespace tern::ctl {

void add_capture_commands(CommandRegistry& r) {
    r.add({"capture start PORT|all FILE [COUNT [FILTER...]]",
           "packets of a port into a pcapng file; COUNT 0: until\nstopped; FILTER in pcap-filter syntax (tcp port 80)",
           [](Operable& t, const Args& a) {
               Capture* capture = t.capture();
               if (capture == nullptr) return fail("capture: no ports to capture in this process");
               uint32_t count = 0;
               if (a.size() > 4) {
                   const auto n = parse_u32(a[4]);
                   if (!n) return fail(fmt::format("capture start: '{}' is not a packet count", a[4]));
                   count = *n;
               }
               std::string filter;
               for (size_t i = 5; i < a.size(); ++i) filter += (filter.empty() ? "" : " ") + a[i];
               if (auto err = capture->start(a[2], a[3], count, 0, filter); !err.empty()) {
                   return fail("capture start: " + err);
               }
               return done(capture->status());
           }});
    r.add({"capture stop", "stop and close the file", [](Operable& t, const Args&) {
               Capture* capture = t.capture();
               if (capture == nullptr) return fail("capture: no ports to capture in this process");
               const bool was = capture->running();
               return CommandResult{capture->stop() + "\n", was, false};
           }});
    r.add({"show capture", "the running capture", [](Operable& t, const Args&) {
               return done(t.capture() ? t.capture()->status() : std::string("no ports to capture"));
           }});
}

}  // namespace tern::ctl
