// The client's callback rules without a surrogate: what a declaration may
// say about a function pointer, how a callable's argument travels, and how
// an invocation's arguments and answer are checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "channel/callbacks.hpp"
#include "channel/codec.hpp"
#include "signature/signature.hpp"
#include "error_of.hpp"

using namespace dllbridge;
using test::error_of;

namespace {

const detail::TargetAbi kAbi{4, false};

detail::Signature checked(const std::string& text) {
  return detail::make_signature(sig::lower(sig::parse(text)), kAbi);
}

TEST(CallbackRules, WhatACallbackMayNotTakeOrReturnIsABadSignature) {
  const struct {
    const char* text;
    const char* says;
  } cases[] = {
      {"void f(void (*cb)([out, size_is(*)] int32_t* x))", "not by its value"},
      {"void f(const char* (*cb)(int32_t x))", "returns a scalar, a struct or void"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const Error e = error_of([&] { checked(c.text); });
    EXPECT_EQ(e.kind(), ErrorKind::bad_signature);
    EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
  }
}

TEST(CallbackRules, OutParametersOfACallbackAreWhatItsCallableLeavesInItsArguments) {
  const detail::Signature s = checked(
      "void f(int32_t (*cb)([out, size_is(n)] int32_t* v, int32_t n, [in, out] int32_t* one, [out, size(4)] "
      "char* "
      "name))");
  const FunctionDecl& fn = *s.fn.params[0].type.callback;
  std::vector<Value> args{Null{}, std::int64_t{3}, Null{}, Null{}};
  wire::InvokeReply reply;
  detail::encode_invoke_outs(fn, args, kAbi, reply);
  ASSERT_EQ(reply.out_size(), 4);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(reply.out(i).v_case(), wire::Value::kNull) << "untouched: left as they are";
  args[0] = List{1, 2};  // fewer than 3: fine
  args[2] = std::int64_t{6};
  args[3] = std::string("abc");
  detail::encode_invoke_outs(fn, args, kAbi, reply);
  EXPECT_EQ(reply.out(0).packed().size(), 2 * sizeof(std::int32_t));
  EXPECT_EQ(reply.out(1).v_case(), wire::Value::kNull) << "not a pointer";
  EXPECT_EQ(reply.out(2).i(), 6);
  EXPECT_EQ(reply.out(3).text(), "abc");
  args[0] = List{1, 2, 3, 4};
  EXPECT_EQ(error_of([&] { detail::encode_invoke_outs(fn, args, kAbi, reply); }).kind(),
            ErrorKind::bad_argument);
  args[0] = Null{};
  args[3] = std::string("abcd");  // 4 units and its NUL in 4
  EXPECT_EQ(error_of([&] { detail::encode_invoke_outs(fn, args, kAbi, reply); }).kind(),
            ErrorKind::bad_argument);
}

TEST(SignatureChecks, AVariadicFunctionIsCdecl) {
  const Error e = error_of([] { checked("int __stdcall f(const char* fmt, ...)"); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_signature);
  EXPECT_NE(std::string(e.what()).find("__cdecl"), std::string::npos) << e.what();
  EXPECT_NO_THROW(checked("int __cdecl f(const char* fmt, ...)"));
}

TEST(CallbackRules, ACallbackArgumentIsACallableOrNull) {
  const detail::Signature s = checked("int32_t f(int32_t (*cb)(int32_t x), int32_t y)");
  wire::Call call;
  {
    const Callback cb([](const std::vector<Value>& a) -> Value { return a[0]; });
    const detail::ReplyPlan plan = detail::encode_call(s, {cb, std::int64_t{1}}, call);
    ASSERT_EQ(call.args(0).v_case(), wire::Value::kU);
    const std::uint64_t id = call.args(0).u();
    EXPECT_NE(id, 0u);
    ASSERT_TRUE(detail::find_callback(id)) << "bound while the call's encoding lives";
    // An invocation with that id reaches the callable, checked by its declaration.
    wire::Invoke inv;
    inv.set_callback(id);
    inv.add_args()->set_i(41);
    const auto found = detail::find_callback(id);
    const std::vector<Value> args = detail::decode_invoke(*found->fn, inv, kAbi);
    ASSERT_EQ(args.size(), 1u);
    EXPECT_EQ(std::get<std::int64_t>(args[0]), 41);
    EXPECT_EQ(detail::encode_invoke_return(*found->fn, std::int64_t{7}, kAbi).i(), 7);
    const Error wrong = error_of([&] { detail::encode_invoke_return(*found->fn, std::string("x"), kAbi); });
    EXPECT_EQ(wrong.kind(), ErrorKind::bad_argument) << wrong.what();
    EXPECT_NE(std::string(wrong.what()).find("return value of callback 'cb'"), std::string::npos)
        << wrong.what();
    inv.add_args()->set_i(2);
    EXPECT_EQ(error_of([&] { detail::decode_invoke(*found->fn, inv, kAbi); }).kind(), ErrorKind::protocol);
    call.Clear();
    (void)plan;
    // plan ends here: the call-scoped binding with it
  }
  detail::encode_call(s, {Null{}, std::int64_t{1}}, call);
  EXPECT_EQ(call.args(0).v_case(), wire::Value::kNull) << "a null function pointer";
  detail::encode_call(s, {Callback(), std::int64_t{1}}, call);
  EXPECT_EQ(call.args(0).v_case(), wire::Value::kNull) << "an empty Callback is null too";
  const Error e = error_of([&] { detail::encode_call(s, {std::int64_t{5}, std::int64_t{1}}, call); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_argument);
  EXPECT_NE(std::string(e.what()).find("'cb'"), std::string::npos) << e.what();
}

TEST(CallbackRules, ACallScopedBindingEndsWithItsCallAndAPersistentOneWithItsCallable) {
  const detail::Signature scoped = checked("void f(void (*cb)(int32_t x))");
  const detail::Signature kept = checked("void f([persistent] void (*cb)(int32_t x))");
  std::uint64_t scoped_id = 0, kept_id = 0, kept_again = 0;
  {
    const Callback cb([](const std::vector<Value>&) -> Value { return Null{}; });
    {
      wire::Call call;
      const detail::ReplyPlan plan = detail::encode_call(scoped, {cb}, call);
      scoped_id = call.args(0).u();
      EXPECT_TRUE(detail::find_callback(scoped_id));
    }
    EXPECT_FALSE(detail::find_callback(scoped_id)) << "the call is over";
    {
      wire::Call call;
      detail::encode_call(kept, {cb}, call);
      kept_id = call.args(0).u();
    }
    EXPECT_TRUE(detail::find_callback(kept_id)) << "persistent: bound after the call";
    wire::Call again;
    detail::encode_call(kept, {cb}, again);
    kept_again = again.args(0).u();
    EXPECT_EQ(kept_again, kept_id) << "the same callable keeps its id";
  }
  EXPECT_FALSE(detail::find_callback(kept_id)) << "its last handle went";
}

}  // namespace

TEST(CallbackThreads, AtMostTheCapRunAtOnceAndEveryTaskRunsInTheEnd) {
  // Three times the cap of tasks that block until released: exactly the cap
  // run at once (without the cap, all of them would), the rest wait, and
  // every one runs once the first are let go.
  constexpr std::size_t kTasks = 3 * detail::kMaxCallbackThreads;
  std::mutex mu;
  std::condition_variable cv;
  std::size_t running = 0, most = 0, done = 0;
  bool open = false;
  for (std::size_t i = 0; i < kTasks; ++i) {
    detail::run_on_callback_thread([&] {
      std::unique_lock lock(mu);
      most = std::max(most, ++running);
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
      --running;
      ++done;
      cv.notify_all();
    });
  }
  // Every thread post() starts is started by now: never more than the cap.
  EXPECT_LE(detail::callback_threads(), detail::kMaxCallbackThreads);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return running >= detail::kMaxCallbackThreads; });
  EXPECT_EQ(done, 0u);
  open = true;
  cv.notify_all();
  cv.wait(lock, [&] { return done == kTasks; });
  EXPECT_EQ(most, detail::kMaxCallbackThreads);
}
