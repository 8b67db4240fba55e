// `tern import-pybal`: turns a PyBal configuration (pybal.conf, an INI file,
// and the pool files its services name) into a Tern YAML config, and lists
// everything that has no Tern equivalent. A CLI helper: blocking calls
// (file reads, DNS) are fine here and are injected so tests need neither.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "importer/pybal_parse.h"

namespace tern::importer {

struct ImportOptions {
    std::string pools_dir;     // read pool files from here by their base name; empty: their own path
    std::string node_name;     // node.name
    std::string node_ipv4;     // node.ipv4; empty: bgp-nexthop-ipv4, else a placeholder (reported)
    std::string device;        // ports[0].device; empty: a placeholder PCI address (reported)
    std::string generated_at;  // when, for the header comment
    // The text of a pool file, or nullopt with `error` set.
    std::function<std::optional<std::string>(const std::string& path, std::string& error)> read_file;
    // An address of `host` in `family` (AF_INET or AF_INET6) as text, or nullopt.
    std::function<std::optional<std::string>(const std::string& host, int family)> resolve;
};

struct ImportResult {
    bool ok = false;    // false: pybal.conf could not be parsed (see error); nothing else is set
    std::string error;  // "file:line: why"
    std::string yaml;   // the Tern config
    std::vector<ImportReport> reports;
};

// The whole import, on text in memory.
ImportResult import_pybal(const std::string& conf_text, const std::string& conf_name, const ImportOptions& options);
// The same from a file; options left empty get the defaults: pool files and
// DNS (getaddrinfo) of this machine, its host name, the time now.
ImportResult import_pybal_file(const std::string& path, ImportOptions options);

}  // namespace tern::importer
