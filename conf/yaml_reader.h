// Reads typed values out of a yaml-cpp tree while collecting every problem
// (file:line:column, key path, message) instead of stopping at the first.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace tern::conf {

class YamlReader {
public:
    YamlReader(std::string file, std::vector<Error>& errors) : file_(std::move(file)), errors_(errors) {}

    void error(const YAML::Node& at, const std::string& path, std::string message);
    Mark mark(const YAML::Node& n) const;

    // `n` must be a map; reports a type error otherwise.
    bool is_map(const YAML::Node& n, const std::string& path);
    bool is_list(const YAML::Node& n, const std::string& path);
    // Reports every key of map `n` that is not in `allowed`, suggesting the nearest.
    void known_keys(const YAML::Node& n, const std::string& path, std::initializer_list<std::string_view> allowed);
    void known_keys(const YAML::Node& n, const std::string& path, const std::vector<std::string_view>& allowed);
    // Reports keys that appear twice in map `n` (yaml-cpp keeps the first silently).
    void duplicate_keys(const YAML::Node& n, const std::string& path);
    // Reports `key` (of the map at `path`) as unknown, suggesting the nearest of `allowed`.
    void unknown_key(const YAML::Node& key, const std::string& path, const std::vector<std::string_view>& allowed);

    // Each getter returns nullopt when the key is absent (reporting it when
    // `required`) or its value is invalid (always reported).
    std::optional<std::string> str(const YAML::Node& map, const std::string& path, const char* key, bool required);
    std::optional<uint64_t> uint(const YAML::Node& map, const std::string& path, const char* key, uint64_t min,
                                 uint64_t max, bool required);
    std::optional<double> real(const YAML::Node& map, const std::string& path, const char* key, double min, double max,
                               bool required);
    std::optional<bool> boolean(const YAML::Node& map, const std::string& path, const char* key, bool required);
    // family: 0 any, 4 or 6.
    std::optional<IpAddr> ip(const YAML::Node& map, const std::string& path, const char* key, int family,
                             bool required);
    std::optional<Prefix> prefix(const YAML::Node& map, const std::string& path, const char* key, int family,
                                 bool required);
    std::optional<MacAddr> mac(const YAML::Node& map, const std::string& path, const char* key, bool required);
    // One of `choices`; returns its index.
    std::optional<size_t> choice(const YAML::Node& map, const std::string& path, const char* key,
                                 std::initializer_list<std::string_view> choices, bool required);

    // A string or a non-empty list of strings (PyBal's "string or list").
    std::optional<std::vector<std::string>> str_list(const YAML::Node& map, const std::string& path, const char* key,
                                                     bool required);
    // An integer or a non-empty list of integers, each in [min, max].
    std::optional<std::vector<uint64_t>> uint_list(const YAML::Node& map, const std::string& path, const char* key,
                                                   uint64_t min, uint64_t max, bool required);

    const std::string& file() const { return file_; }
    const std::vector<Error>& errors() const { return errors_; }

private:
    // The scalar at map[key], or nullopt (reported as needed).
    std::optional<YAML::Node> scalar(const YAML::Node& map, const std::string& path, const char* key, bool required,
                                     const char* what);
    std::string file_;
    std::vector<Error>& errors_;
};

std::string join_path(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, size_t i);

}  // namespace tern::conf
