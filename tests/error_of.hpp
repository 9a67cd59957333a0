// test::error_of: the dllbridge::Error a piece of code throws, for any suite
// (it needs nothing but the public error type).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <typeinfo>

#include "dllbridge/error.hpp"

namespace dllbridge::test {

// The dllbridge::Error `f` throws; a test failure when it throws something
// else or nothing.
template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw " << typeid(e).name() << ": " << e.what();
    return Error(ErrorKind::protocol, "other");
  }
  ADD_FAILURE() << "expected a dllbridge::Error";
  return Error(ErrorKind::protocol, "none");
}

}  // namespace dllbridge::test
