#include "daemon/services/yaml_values.hpp"

#include "protocol/python_format.hpp"
#include "protocol/python_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <limits>
#include <regex>
#include <stdexcept>

namespace ksid::daemon {
namespace json = boost::json;

namespace {

std::string without_underscores(const std::string& s) {
    std::string r;
    for (char c : s)
        if (c != '_') r += c;
    return r;
}

// Sexagesimal (base 60) numbers like 1:30 or 190:20:30.5, as YAML 1.1 has them.
double sexagesimal(const std::string& text) {
    std::string s = without_underscores(text);
    double sign = 1;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        if (s[0] == '-') sign = -1;
        s.erase(0, 1);
    }
    double value = 0;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto colon = s.find(':', start);
        if (colon == std::string::npos) colon = s.size();
        value = value * 60 + std::strtod(s.substr(start, colon - start).c_str(), nullptr);
        start = colon + 1;
    }
    return sign * value;
}

} // namespace

json::value yaml11_plain_scalar(const std::string& t) {
    static const std::regex null_re("^(?:~|null|Null|NULL|)$");
    static const std::regex true_re("^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$");
    static const std::regex false_re("^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$");
    static const std::regex bin_re("^[-+]?0b[0-1_]+$");
    static const std::regex oct_re("^[-+]?0[0-7_]+$");
    static const std::regex dec_re("^[-+]?(?:0|[1-9][0-9_]*)$");
    static const std::regex hex_re("^[-+]?0x[0-9a-fA-F_]+$");
    static const std::regex sexa_int_re("^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$");
    static const std::regex float_re("^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9_]+(?:[eE][-+][0-9]+)?)$");
    static const std::regex sexa_float_re("^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*$");
    static const std::regex inf_re("^[-+]?\\.(?:inf|Inf|INF)$");
    static const std::regex nan_re("^\\.(?:nan|NaN|NAN)$");

    if (std::regex_match(t, null_re)) return nullptr;
    if (std::regex_match(t, true_re)) return true;
    if (std::regex_match(t, false_re)) return false;
    auto integer = [&](const std::string& digits, int base) -> json::value {
        std::string s = without_underscores(digits);
        bool neg = false;
        if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
            neg = s[0] == '-';
            s.erase(0, 1);
        }
        if (base == 2) s.erase(0, 2);
        if (base == 16) s.erase(0, 2);
        errno = 0;
        const unsigned long long v = std::strtoull(s.c_str(), nullptr, base);
        if (errno == ERANGE || v > static_cast<unsigned long long>(std::numeric_limits<long long>::max()))
            return json::value(neg ? -static_cast<double>(v) : static_cast<double>(v));
        return json::value(neg ? -static_cast<long long>(v) : static_cast<long long>(v));
    };
    if (std::regex_match(t, bin_re)) return integer(t, 2);
    if (std::regex_match(t, hex_re)) return integer(t, 16);
    if (std::regex_match(t, oct_re)) return integer(t, 8);
    if (std::regex_match(t, dec_re)) return integer(t, 10);
    if (std::regex_match(t, sexa_int_re)) return json::value(static_cast<long long>(sexagesimal(t)));
    if (std::regex_match(t, float_re)) return json::value(std::strtod(without_underscores(t).c_str(), nullptr));
    if (std::regex_match(t, sexa_float_re)) return json::value(sexagesimal(t));
    if (std::regex_match(t, inf_re))
        return json::value(t[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity());
    if (std::regex_match(t, nan_re)) return json::value(std::numeric_limits<double>::quiet_NaN());
    return json::value(t); // dates and everything else stay text
}

json::value yaml_to_json(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: {
        const auto& tag = node.Tag();
        if (tag == "?") return yaml11_plain_scalar(node.Scalar());
        if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" || tag == "tag:yaml.org,2002:bool" ||
            tag == "tag:yaml.org,2002:null")
            return yaml11_plain_scalar(node.Scalar());
        return json::value(node.Scalar()); // quoted, or !!str
    }
    case YAML::NodeType::Sequence: {
        json::array a;
        for (const auto& item : node) a.push_back(yaml_to_json(item));
        return a;
    }
    case YAML::NodeType::Map: {
        json::object o;
        for (const auto& kv : node) {
            if (!kv.first.IsScalar()) throw std::runtime_error("mapping keys must be scalars");
            // Non-string keys become strings the way json.dumps writes them (1 -> "1", True -> "true").
            json::value key = yaml_to_json(kv.first);
            std::string k = key.is_string() ? std::string(key.get_string()) : protocol::to_python_json(key);
            o[k] = yaml_to_json(kv.second);
        }
        return o;
    }
    }
    return nullptr;
}

} // namespace ksid::daemon
