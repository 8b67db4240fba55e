// PyBal's configuration syntax, as import-pybal reads it: Python 2
// ConfigParser's INI files and the Python literals its options hold
// (PyBal evaluates them). Pure functions over text.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tern::importer {

// One thing the import could not carry over as it was.
struct ImportReport {
    std::string file;     // pybal.conf or a pool file
    int line = 0;         // 1-based; 0 when unknown
    std::string section;  // the INI section ("global", a service); may be empty
    std::string message;  // names the key and says what was done instead
    // "file:line: section: message" (":line" and "section: " left out when unknown)
    std::string str() const;
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
    std::vector<PyValue> items;                        // list / tuple
    std::vector<std::pair<PyValue, PyValue>> entries;  // dict, in order

    // Defined where PyValue is complete (pybal_parse.cpp): clang 14 with
    // libstdc++ 12 cannot make them inside the class, std::pair<PyValue,
    // PyValue> being incomplete there.
    PyValue();
    ~PyValue();
    PyValue(const PyValue&);
    PyValue(PyValue&&) noexcept;
    PyValue& operator=(const PyValue&);
    PyValue& operator=(PyValue&&) noexcept;
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
    std::vector<IniSection> sections;   // without DEFAULT
    std::string error;                  // "file:line: why" when it cannot be read
    std::vector<ImportReport> reports;  // interpolation problems (raw value kept)
};
IniParse parse_ini(const std::string& text, const std::string& name);

// Whitespace trimmed both ends; ASCII lower case.
std::string pybal_strip(const std::string& s);
std::string pybal_lower(std::string s);

}  // namespace tern::importer
