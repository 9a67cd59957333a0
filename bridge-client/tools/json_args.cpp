#include "json_args.hpp"

#include <cstdint>
#include <type_traits>
#include <variant>

#include "dllbridge/error.hpp"

namespace dllbridge::tools {

using json = nlohmann::json;

Value to_value(const json& j, const std::string& where, int depth) {
  if (depth > 16) throw Error(ErrorKind::bad_argument, where + ": nested too deeply");
  switch (j.type()) {
    case json::value_t::null: return Null{};
    case json::value_t::boolean: return j.get<bool>();
    case json::value_t::number_integer: return j.get<std::int64_t>();
    case json::value_t::number_unsigned: return j.get<std::uint64_t>();
    case json::value_t::number_float: return j.get<double>();
    case json::value_t::string: return j.get<std::string>();
    case json::value_t::array: {
      List list;
      for (const json& item : j) list.push_back(to_value(item, where, depth + 1));
      return list;
    }
    case json::value_t::object: {
      Object obj;
      for (const auto& [key, item] : j.items()) obj.emplace(key, to_value(item, where, depth + 1));
      return obj;
    }
    default: throw Error(ErrorKind::bad_argument, where + ": not a JSON value this tool passes");
  }
}

json to_json(const Value& v) {
  return std::visit(
      [](const auto& x) -> json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Null>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, List>) {
          json a = json::array();
          for (const Value& item : x) a.push_back(to_json(item));
          return a;
        } else if constexpr (std::is_same_v<T, Object>) {
          json o = json::object();
          for (const auto& [key, item] : x) o[key] = to_json(item);
          return o;
        } else if constexpr (std::is_same_v<T, Buffer>) {
          return nullptr;  // never in a dynamic result: only typed callers pass buffers
        } else if constexpr (std::is_same_v<T, Callback>) {
          return nullptr;  // never in a result: callbacks are arguments
        } else {
          return x;
        }
      },
      v.base());
}

}  // namespace dllbridge::tools
