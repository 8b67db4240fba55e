// Loading a config the way everything that serves one loads it: `tern run`
// at start and on reload, `tern replay` and its reload events, `tern check`.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace tern::ctl {

// The file's schema and monitor errors (load_checked_file, monitor_spec.h)
// and, for a valid config, what this build cannot serve (unsupported()).
// `config` is set only when there is no error at all.
conf::LoadResult load_config(const std::string& path);

// The errors, one per line, each ending in a newline.
std::string error_lines(const std::vector<conf::Error>& errors);

}  // namespace tern::ctl
