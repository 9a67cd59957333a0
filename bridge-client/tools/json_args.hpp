// dllbridge-call's JSON forms (docs/cli.md, section 3): JSON arguments to
// Values and Values (results, [out] parameters) back to JSON. In a file of
// their own so that the fuzz target fuzz/json_args_fuzz.cpp reaches them.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "dllbridge/types.hpp"

namespace dllbridge::tools {

// A JSON argument as a Value: arrays become lists, objects structs (or a
// typed variadic argument such as {"int": 3}). Throws
// dllbridge::Error(bad_argument) naming `where` for a value nested more than
// 16 deep or of a kind the tool does not pass.
Value to_value(const nlohmann::json& j, const std::string& where, int depth = 0);

// A Value as JSON: lists become arrays, structs objects. Never throws for
// any Value (text that is not UTF-8 is kept as it is; dump it with
// error_handler_t::replace).
nlohmann::json to_json(const Value& v);

}  // namespace dllbridge::tools
