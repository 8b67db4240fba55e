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

namespace tern::ctl {

// One thing the import could not carry over as it was.
struct ImportReport {
    std::string file;     // pybal.conf or a pool file
    int line = 0;         // 1-based; 0 when unknown
    std::string section;  // the INI section ("global", a service); may be empty
    std::string message;  // names the key and says what was done instead
    // "file:line: section: message" (":line" and "section: " left out when unknown)
    std::string str() const;
};

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

// A value of PyBal's Python-literal options (`monitors`, `proxyfetch.url`,
// pool file lines): None, bool, int, float, str, list/tuple or dict.
// RunCommand arguments may name `server.host`, `server.ip`, `server.port`
// and `server.lvsservice.name`; those become Tern's {host}, {ip}, {port}
// and {service} inside the string.
struct PyValue {
    enum class Kind { none, boolean, integer, real, string, list, dict };
    Kind kind = Kind::none;
    bool b = false;
    long long i = 0;
    double d = 0;
    std::string s;
    std::vector<PyValue> items;                       // list / tuple
    std::vector<std::pair<PyValue, PyValue>> entries;  // dict, in order
};

struct PyParse {
    std::optional<PyValue> value;  // nullopt: see error
    std::string error;
    bool placeholder_clash = false;  // a literal string holds "{host}"-like text Tern would replace
};
// Parses one Python literal expression. With `server_refs`, `server.*`
// names and `+` between strings are allowed (RunCommand arguments).
PyParse parse_python_literal(const std::string& text, bool server_refs = false);

// One INI file as Python 2's ConfigParser reads it: sections in order, keys
// lower-cased with their values (continuation lines joined by '\n', " ;"
// comments cut, %(name)s interpolated) and the line each came from.
struct IniEntry {
    std::string key;
    std::string value;
    int line = 0;
};
struct IniSection {
    std::string name;
    int line = 0;
    std::vector<IniEntry> entries;  // [DEFAULT]'s entries follow the section's own
    const IniEntry* find(const std::string& key) const;
};
struct IniParse {
    std::vector<IniSection> sections;  // without DEFAULT
    std::string error;                 // "file:line: why" when it cannot be read
    std::vector<ImportReport> reports;  // interpolation problems (raw value kept)
};
IniParse parse_ini(const std::string& text, const std::string& name);

// The whole import, on text in memory.
ImportResult import_pybal(const std::string& conf_text, const std::string& conf_name,
                          const ImportOptions& options);
// The same from a file; options left empty get the defaults: pool files and
// DNS (getaddrinfo) of this machine, its host name, the time now.
ImportResult import_pybal_file(const std::string& path, ImportOptions options);

}  // namespace tern::ctl
