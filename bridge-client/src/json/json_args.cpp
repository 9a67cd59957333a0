#include "json_args.hpp"

#include <cstdint>
#include <type_traits>
#include <utility>
#include <variant>

#include "dllbridge/error.hpp"

namespace dllbridge::tools {

using json = nlohmann::json;

namespace {

constexpr int kMaxJsonDepth = 16;

void check_depth(int depth, const std::string& where) {
  if (depth > kMaxJsonDepth) throw Error(ErrorKind::bad_argument, where + ": nested too deeply");
}

}  // namespace

Value to_value(const json& j, const std::string& where, int depth) {
  check_depth(depth, where);
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

std::string shown(const json& j) {
  std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 40) + "...";
  return text;
}

void Recorder::record(const std::string& param, json args) {
  json entry = {{"param", param}, {"args", std::move(args)}};
  std::lock_guard lock(mu_);
  if (!closed_) entries_.push_back(std::move(entry));
}

void Recorder::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  entries_ = json::array();
}

json Recorder::take() {
  json taken = json::array();
  std::lock_guard lock(mu_);
  std::swap(taken, entries_);
  return taken;
}

json invocation_json(const FunctionDecl& fn, const std::vector<Value>& args) {
  json out = json::object();
  for (std::size_t i = 0; i < args.size(); ++i) {
    out[i < fn.params.size() ? fn.params[i].name : "arg" + std::to_string(i)] = to_json(args[i]);
  }
  return out;
}

namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw Error(ErrorKind::bad_argument, "parameter '" + path + "': " + why);
}

const char* const kStubForm = "{\"callback\": {\"returns\": VALUE}}";

// The form of a recording stub: an object whose only key is "callback".
bool is_stub(const json& j) { return j.is_object() && j.size() == 1 && j.contains("callback"); }

// A stub's "returns" checked against the kind of value the callback returns
// (its range is the codec's to check, when the stub answers).
Value stub_return(const json& spec, const FunctionDecl& fn, const std::string& path,
                  const std::string& where) {
  const TypeDecl& r = fn.ret;
  const bool is_void = r.kind == TypeDecl::Kind::scalar && r.scalar == Scalar::Void;
  if (!spec.contains("returns")) {
    if (is_void) return Null{};
    refuse(path, std::string("its callback returns a value: give it in the stub, ") + kStubForm);
  }
  const json& v = spec["returns"];
  if (is_void) {
    if (!v.is_null()) refuse(path, "its callback returns void: leave \"returns\" out, not " + shown(v));
    return Null{};
  }
  const char* wanted = nullptr;
  bool fits = true;
  if (r.kind == TypeDecl::Kind::structure) {
    wanted = "an object (a struct)";
    fits = v.is_object();
  } else if (r.kind == TypeDecl::Kind::scalar) {
    switch (r.scalar) {
      case Scalar::Bool:
        wanted = "true or false";
        fits = v.is_boolean();
        break;
      case Scalar::Float:
      case Scalar::Double:
        wanted = "a number";
        fits = v.is_number();
        break;
      case Scalar::BOOL:
        wanted = "a number (or true / false)";
        fits = v.is_number() || v.is_boolean();
        break;
      default:
        wanted = "an integer";
        fits = v.is_number();
        break;
    }
  }
  if (!fits) refuse(path, std::string("its callback returns ") + wanted + ": \"returns\" is " + shown(v));
  return to_value(v, where);
}

// A function pointer's argument: null, or a recording stub.
Value function_pointer(const json& j, const TypeDecl& t, const std::string& path, const std::string& where,
                       Stubs& stubs) {
  if (j.is_null()) return Null{};
  if (!is_stub(j) || !j["callback"].is_object()) {
    refuse(path, std::string("a function pointer takes null or a recording stub ") + kStubForm + ", not " +
                     shown(j));
  }
  const json& spec = j["callback"];
  for (const auto& item : spec.items()) {
    if (item.key() != "returns") refuse(path, "a stub has no \"" + item.key() + "\" (only \"returns\")");
  }
  const std::shared_ptr<const FunctionDecl> fn = t.callback;
  if (!fn) refuse(path, "the function pointer has no declaration");
  const Value answer = stub_return(spec, *fn, path, where);
  const std::shared_ptr<Recorder> recorder = stubs.recorder;
  Callback stub([fn, recorder, path, answer](const std::vector<Value>& args) -> Value {
    recorder->record(path, invocation_json(*fn, args));
    return answer;
  });
  ++stubs.made;
  if (t.persistent) stubs.kept.push_back(stub);
  return stub;
}

}  // namespace

Value to_argument(const json& j, const TypeDecl& t, const std::string& path, const std::string& where,
                  Stubs& stubs, int depth) {
  check_depth(depth, where);
  switch (t.kind) {
    case TypeDecl::Kind::callback: return function_pointer(j, t, path, where, stubs);
    case TypeDecl::Kind::structure:
      if (j.is_object()) {
        Object obj;
        for (const auto& [key, item] : j.items()) {
          const FieldDecl* field = nullptr;
          for (const FieldDecl& f : t.fields) {
            if (f.name == key) field = &f;
          }
          obj.emplace(key, field ? to_argument(item, field->type, path + "." + key, where, stubs, depth + 1)
                                 : to_value(item, where, depth + 1));  // an unknown field: the codec names it
        }
        return obj;
      }
      break;
    case TypeDecl::Kind::pointer:
    case TypeDecl::Kind::array:
      if (!t.elem || t.text) break;
      if (j.is_array()) {
        List list;
        for (std::size_t i = 0; i < j.size(); ++i) {
          list.push_back(
              to_argument(j[i], *t.elem, path + "[" + std::to_string(i) + "]", where, stubs, depth + 1));
        }
        return list;
      }
      if (j.is_object() && t.elem->kind == TypeDecl::Kind::structure) {
        return to_argument(j, *t.elem, path, where, stubs, depth);  // one struct through a pointer
      }
      break;
    case TypeDecl::Kind::scalar: break;
  }
  if (is_stub(j))
    refuse(path, std::string("a recording stub ") + kStubForm + " goes only to a function pointer");
  return to_value(j, where, depth);
}

std::vector<Value> to_arguments(const FunctionDecl& fn, const std::vector<json>& raw,
                                const std::function<std::string(std::size_t)>& where, Stubs& stubs) {
  std::vector<const ParamDecl*> inputs;
  for (const ParamDecl& p : fn.params) {
    const TypeDecl& t = p.type;
    if (!(t.kind == TypeDecl::Kind::pointer && t.dir == Dir::out && t.size_is != "*")) inputs.push_back(&p);
  }
  std::vector<Value> args;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    args.push_back(i < inputs.size() ? to_argument(raw[i], inputs[i]->type, inputs[i]->name, where(i), stubs)
                                     : to_value(raw[i], where(i)));
  }
  return args;
}

}  // namespace dllbridge::tools
