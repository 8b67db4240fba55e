// Placeholder until this monitor kind lands: the factory returns nothing and
// callers refuse the config naming the kind.
#include "health/monitor.h"

namespace tern::health {

std::unique_ptr<Monitor> make_udp(boost::asio::io_context&, const conf::Monitor&, Target, Report) { return nullptr; }

}  // namespace tern::health
