// Callbacks through the whole chain: the sample library calls function
// pointers that the surrogate made for C++ callables of this program. Every
// result is checked against the 64-bit sample library called in-process
// with plain C function pointers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "dllbridge/bridge.hpp"
#include "sample.h"
#include "test_support.hpp"

using namespace dllbridge;
using test::error_of;
using test::i64;

namespace {

struct Point {
  std::int32_t x, y;
};

}  // namespace

DLLBRIDGE_DESCRIBE(Point, "sample_point", DLLBRIDGE_FIELD(Point, x), DLLBRIDGE_FIELD(Point, y));

namespace {

// struct sample_ops with a typed callable where the library has a function pointer.
struct TypedOps {
  Fn<int32_t(int32_t)> map;
  int32_t bias = 0;
};

// struct sample_handlers: a table the library keeps, so its function pointer is [persistent].
struct TypedHandlers {
  PersistentFn<int32_t(int32_t)> on_value;
  int32_t scale = 0;
};

}  // namespace

DLLBRIDGE_DESCRIBE(TypedOps, "sample_ops", DLLBRIDGE_FIELD(TypedOps, map), DLLBRIDGE_FIELD(TypedOps, bias));
DLLBRIDGE_DESCRIBE(TypedHandlers, "sample_handlers", DLLBRIDGE_FIELD(TypedHandlers, on_value),
                   DLLBRIDGE_FIELD(TypedHandlers, scale));

namespace {

// In-process reference comparators (x86-64: every convention is the platform's).
int32_t ascending(const int32_t* a, const int32_t* b) { return *a < *b ? -1 : *a > *b ? 1 : 0; }
int32_t SAMPLE_STDCALL ascending_std(const int32_t* a, const int32_t* b) { return ascending(a, b); }

std::vector<int32_t> shuffled(unsigned seed, std::size_t n) {
  std::vector<int32_t> v(n);
  std::mt19937 rng(seed);
  for (auto& x : v) x = static_cast<int32_t>(rng() % 1000) - 500;
  return v;
}

const char* kSortSig = R"(int32_t sort_i32([in, out, size_is(n)] int32_t* v, int32_t n,
                                           int32_t (*cmp)(const int32_t* a, const int32_t* b)))";
const char* kSortStdSig =
    R"(int32_t __stdcall sort_i32_std([in, out, size_is(n)] int32_t* v, int32_t n,
                                      int32_t (__stdcall *cmp)(const int32_t* a, const int32_t* b)))";
const char* kEnumSig = R"(typedef int32_t (CALLBACK *ENUMPROC)(int32_t index, void* ctx);
                          int32_t WINAPI enum_items(int32_t count, ENUMPROC proc, void* ctx))";

class Callbacks : public test::SampleTest {};

// The values of a List result.
std::vector<int32_t> ints(const Value& v) {
  std::vector<int32_t> out;
  for (const Value& x : std::get<List>(v)) out.push_back(static_cast<int32_t>(i64(x)));
  return out;
}

TEST_P(Callbacks, SortsWithCdeclAndStdcallComparatorsLikeTheLibraryInProcess) {
  for (const bool stdcall : {false, true}) {
    SCOPED_TRACE(stdcall ? "stdcall" : "cdecl");
    const Function sort = lib_->function(stdcall ? kSortStdSig : kSortSig);
    std::vector<int32_t> expected = shuffled(stdcall ? 7 : 3, 40);
    std::vector<Value> input;
    for (int32_t x : expected) input.push_back(std::int64_t{x});
    int calls = 0;
    std::vector<std::pair<int32_t, int32_t>> seen;
    const Callback cmp([&](const std::vector<Value>& args) -> Value {
      ++calls;
      const auto a = static_cast<int32_t>(i64(args[0])), b = static_cast<int32_t>(i64(args[1]));
      seen.emplace_back(a, b);
      return std::int64_t{ascending(&a, &b)};
    });
    const CallResult r = sort.call({List(input), std::int64_t(expected.size()), cmp});

    const int32_t direct = stdcall ? sort_i32_std(expected.data(), int32_t(expected.size()), &ascending_std)
                                   : sort_i32(expected.data(), int32_t(expected.size()), &ascending);
    EXPECT_EQ(ints(r.out.at("v")), expected);
    EXPECT_EQ(i64(r.ret), direct) << "comparisons the library made";
    EXPECT_EQ(calls, direct) << "each comparison reached the callable once";
    EXPECT_TRUE(std::is_sorted(expected.begin(), expected.end()));
  }
}

TEST_P(Callbacks, TypedComparatorsAreAnyCallable) {
  const auto sort =
      lib_->function<int32_t(InOut<int32_t, 1>, int32_t, Fn<int32_t(const int32_t*, const int32_t*)>)>(
          "sort_i32");
  const auto sort_std = lib_->function<int32_t(
      InOut<int32_t, 1>, int32_t, Fn<int32_t(const int32_t*, const int32_t*), CallConv::Stdcall>)>(
      "sort_i32_std", CallConv::Stdcall);
  std::vector<int32_t> v = shuffled(11, 25), w = v, expected = v;
  const int32_t direct = sort_i32(expected.data(), int32_t(expected.size()), &ascending);
  int descending_calls = 0;
  // A lambda with state, a std::function, and the same comparison descending.
  EXPECT_EQ(sort(inout(v), int32_t(v.size()),
                 [&](const int32_t* a, const int32_t* b) {
                   EXPECT_NE(a, nullptr);
                   return ascending(a, b);
                 }),
            direct);
  EXPECT_EQ(v, expected);
  const std::function<int32_t(const int32_t*, const int32_t*)> down = [&](const int32_t* a,
                                                                          const int32_t* b) {
    ++descending_calls;
    return ascending(b, a);
  };
  EXPECT_GT(sort_std(inout(w), int32_t(w.size()), down), 0);
  EXPECT_TRUE(std::is_sorted(w.rbegin(), w.rend()));
  EXPECT_GT(descending_calls, 0);
}

TEST_P(Callbacks, AnEnumeratorPassesItsContextAndStopsWhenTheCallbackSaysSo) {
  const Function enumerate = lib_->function(kEnumSig);
  std::vector<std::pair<std::int64_t, std::uint64_t>> seen;
  const Callback proc([&](const std::vector<Value>& args) -> Value {
    const std::uint64_t ctx =
        std::holds_alternative<std::uint64_t>(args[1]) ? std::get<std::uint64_t>(args[1]) : 0;
    seen.emplace_back(i64(args[0]), ctx);
    return std::int64_t{i64(args[0]) < 4 ? 1 : 0};  // stop at index 4
  });
  const CallResult r = enumerate.call({std::int64_t{10}, proc, std::uint64_t{0x5eed}});
  EXPECT_EQ(i64(r.ret), 5);
  ASSERT_EQ(seen.size(), 5u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].first, std::int64_t(i));
    EXPECT_EQ(seen[i].second, 0x5eedu) << "the context pointer travels untouched";
  }
  // In-process, the same stop.
  struct Ctx {
    int calls = 0;
  } ctx;
  const int32_t direct = enum_items(
      10,
      [](int32_t index, void* c) -> int32_t {
        ++static_cast<Ctx*>(c)->calls;
        return index < 4 ? 1 : 0;
      },
      &ctx);
  EXPECT_EQ(direct, 5);
  EXPECT_EQ(ctx.calls, 5);
}

TEST_P(Callbacks, TextAndABufferGoInADoubleAndAStructComeBack) {
  const auto stat = lib_->function<double(std::string, In<double, 2>, int32_t,
                                          Fn<double(const char*, In<double, 2>, int32_t)>)>("stat_with");
  const std::vector<double> samples{1.5, 2.5, -4.0, 8.25};
  std::string label_seen;
  std::vector<double> samples_seen;
  const double r =
      stat("volts", in(samples), int32_t(samples.size()), [&](const char* label, In<double, 2> v, int32_t n) {
        label_seen = label;
        samples_seen.assign(v.data, v.data + v.size);
        EXPECT_EQ(std::size_t(n), v.size);
        double sum = 0;
        for (std::size_t i = 0; i < v.size; ++i) sum += v.data[i];
        return sum;
      });
  EXPECT_EQ(label_seen, "volts");
  EXPECT_EQ(samples_seen, samples);
  const double direct = stat_with("volts", samples.data(), int32_t(samples.size()),
                                  [](const char*, const double* v, int32_t n) {
                                    double sum = 0;
                                    for (int32_t i = 0; i < n; ++i) sum += v[i];
                                    return sum;
                                  });
  EXPECT_DOUBLE_EQ(r, direct);

  const Function point = lib_->function(
      R"(struct sample_point { int32_t x; int32_t y; };
         int32_t point_with(const char* name, [in, size_is(n)] const int32_t* xy, int32_t n,
                            struct sample_point (*f)(const char* name, [size_is(n)] const int32_t* xy, int32_t n)))");
  const Callback make([](const std::vector<Value>& args) -> Value {
    const std::vector<int32_t> xy = ints(args[1]);
    return Object{{"x", std::int64_t(std::get<std::string>(args[0]).size())},
                  {"y", std::int64_t(xy.at(0) * 10 + xy.at(1))}};
  });
  const CallResult p = point.call({std::string("abc"), List{4, 2}, std::int64_t{2}, make});
  const int32_t xy[] = {4, 2};
  EXPECT_EQ(i64(p.ret), point_with("abc", xy, 2, [](const char* name, const int32_t* v, int32_t) {
              return sample_point{int32_t(std::string(name).size()), v[0] * 10 + v[1]};
            }));
  EXPECT_EQ(i64(p.ret), 3 * 1000 + 42);
}

TEST_P(Callbacks, OutParametersFillTheLibrarysBuffer) {
  // Dynamic: the callable puts what the library's buffer gets into args.
  const Function read_all = lib_->function(
      "int32_t read_all(int32_t (*f)(void* ctx, [out, size_is(cap)] uint8_t* buf, int32_t cap), void* ctx,"
      " [out, size_is(cap)] uint8_t* out, int32_t cap, int32_t chunk)");
  std::string source = "the quick brown fox";
  std::size_t at = 0;
  std::vector<std::int64_t> asked;
  const Callback reader([&](std::vector<Value>& args) -> Value {
    EXPECT_TRUE(std::holds_alternative<Null>(args[1])) << "an [out] buffer arrives empty";
    const std::int64_t cap = i64(args[2]);
    asked.push_back(cap);
    List chunk;
    for (std::int64_t k = 0; k < cap && at < source.size(); ++k) chunk.push_back(std::int64_t{source[at++]});
    const auto n = std::int64_t(chunk.size());
    args[1] = std::move(chunk);
    return n;
  });
  const CallResult r = read_all.call({reader, std::uint64_t{0}, std::int64_t{32}, std::int64_t{5}});
  EXPECT_EQ(i64(r.ret), std::int64_t(source.size()));
  const std::vector<int32_t> bytes = ints(r.out.at("out"));
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + std::ptrdiff_t(source.size())), source);
  EXPECT_EQ(asked, (std::vector<std::int64_t>{5, 5, 5, 5, 5}));

  // More than the library's buffer holds: refused before anything is written.
  const Callback greedy([](std::vector<Value>& args) -> Value {
    args[1] = List(std::vector<Value>(std::size_t(i64(args[2]) + 1), Value(std::int64_t{1})));
    return std::int64_t{1};
  });
  const Error e = error_of([&] {
    read_all.call({greedy, std::uint64_t{0}, std::int64_t{8}, std::int64_t{4}});
  });
  EXPECT_EQ(e.kind(), ErrorKind::callback_failed) << e.what();
  EXPECT_NE(std::string(e.what()).find("buf"), std::string::npos) << e.what();

  // Typed: Out<T, N> is the library's memory to fill, N elements long.
  const auto read_typed = lib_->function<int32_t(Fn<int32_t(Handle, Out<uint8_t, 2>, int32_t)>, Handle,
                                                 Out<uint8_t, 3>, int32_t, int32_t)>("read_all");
  std::vector<uint8_t> got(10, 0);
  int round = 0;
  EXPECT_EQ(read_typed(
                [&](Handle, Out<uint8_t, 2> buf, int32_t cap) {
                  EXPECT_EQ(buf.size, std::size_t(cap));
                  if (round == 2) return 0;
                  for (int32_t k = 0; k < cap; ++k) buf.data[k] = uint8_t(10 * round + k);
                  ++round;
                  return cap;
                },
                Handle{}, out(got), int32_t(got.size()), 4),
            8);
  EXPECT_EQ(got, (std::vector<uint8_t>{0, 1, 2, 3, 10, 11, 12, 13, 0, 0}));

  // Text: an [out, size_is(cap)] char buffer takes text and its NUL.
  const auto name_via =
      lib_->function<int32_t(Fn<void(int32_t, Out<char, 2>, int32_t)>, int32_t, Out<char, 3>, int32_t)>(
          "name_via");
  char name[32] = {};
  EXPECT_EQ(name_via(
                [](int32_t id, Out<char, 2> buf, int32_t cap) {
                  EXPECT_EQ(cap, 16);
                  const std::string text = "unit-" + std::to_string(id);
                  std::snprintf(buf.data, buf.size, "%s", text.c_str());
                },
                7, out(name), int32_t(sizeof name)),
            6);
  EXPECT_STREQ(name, "unit-7");
  // In-process, the same answers.
  char direct[32] = {};
  EXPECT_EQ(::name_via([](int32_t id, char* buf,
                          int32_t cap) { std::snprintf(buf, std::size_t(cap), "unit-%d", id); },
                       7, direct, int32_t(sizeof direct)),
            6);
  EXPECT_STREQ(direct, name);
}

TEST_P(Callbacks, AFunctionPointerInAStructIsCalledLikeAParameter) {
  const Function apply = lib_->function(
      "struct sample_ops { int32_t (*map)(int32_t x); int32_t bias; };"
      "int32_t ops_apply([in] const struct sample_ops* ops, int32_t x)");
  std::vector<std::int64_t> seen;
  const Callback square([&](const std::vector<Value>& a) -> Value {
    seen.push_back(i64(a[0]));
    return i64(a[0]) * i64(a[0]);
  });
  EXPECT_EQ(i64(apply.call({Object{{"map", square}, {"bias", std::int64_t{3}}}, std::int64_t{7}}).ret), 52);
  EXPECT_EQ(seen, std::vector<std::int64_t>{7});
  EXPECT_EQ(i64(apply.call({Object{{"map", Null{}}, {"bias", std::int64_t{3}}}, std::int64_t{7}}).ret), -1)
      << "a null function pointer field";
  const sample_ops direct{[](int32_t x) { return x * x; }, 3};
  EXPECT_EQ(ops_apply(&direct, 7), 52);
}

TEST_P(Callbacks, AnFnFieldOfATypedStructIsCalledLikeAnFnParameter) {
  const auto apply = lib_->function<int32_t(In<TypedOps>, int32_t)>("ops_apply");
  std::vector<int32_t> seen;
  TypedOps ops{[&](int32_t x) {
                 seen.push_back(x);
                 return x * x;
               },
               3};
  EXPECT_EQ(apply(in(ops), 7), 52);
  EXPECT_EQ(seen, std::vector<int32_t>{7});
  EXPECT_EQ(apply(in(TypedOps{nullptr, 3}), 7), -1) << "a null Fn field is a null function pointer";
  // An [in, out] struct comes back with its numbers; the field keeps its callable.
  const auto apply_inout = lib_->function<int32_t(InOut<TypedOps>, int32_t)>("ops_apply");
  EXPECT_EQ(apply_inout(inout(ops), 5), 28);
  EXPECT_EQ(seen, (std::vector<int32_t>{7, 5}));
  ASSERT_TRUE(ops.map) << "the callable was dropped when the struct came back";
  EXPECT_EQ(apply(in(ops), 2), 7);
  // The library writes the struct: its numbers come back, the callable stays.
  const auto accumulate = lib_->function<int32_t(InOut<TypedOps>, int32_t)>("ops_accumulate");
  TypedOps acc{[](int32_t x) { return 3 * x; }, 1};
  EXPECT_EQ(accumulate(inout(acc), 2), 7);
  EXPECT_EQ(accumulate(inout(acc), 3), 16);
  EXPECT_EQ(acc.bias, 16);
  ASSERT_TRUE(acc.map);
}

TEST_P(Callbacks, APersistentFnFieldIsCalledAfterTheCallUntilItsLastCopyEnds) {
  const auto set = lib_->function<void(In<TypedHandlers>)>("handlers_set");
  const auto fire = lib_->function<int32_t(int32_t)>("handlers_fire");
  std::vector<int32_t> seen;
  {
    TypedHandlers h{[&](int32_t x) {
                      seen.push_back(x);
                      return x + 1;
                    },
                    3};
    set(in(h));
    // The library calls the kept table's function pointer in later calls.
    EXPECT_EQ(fire(4), 15);
    EXPECT_EQ(fire(9), 30);
    EXPECT_EQ(seen, (std::vector<int32_t>{4, 9}));
  }
  // Its last copy ended: the function pointer the library still holds
  // answers the default return (zero), the callable is not called.
  EXPECT_EQ(fire(5), 0);
  EXPECT_EQ(seen, (std::vector<int32_t>{4, 9}));
  set(in(TypedHandlers{nullptr, 3}));
  EXPECT_EQ(fire(5), -1) << "a null persistent field is a null function pointer";
}

TEST_P(Callbacks, ACallbackCallsIntoTheLibraryAgainEightDeep) {
  const auto reenter_fn = std::make_shared<TypedFunction<int32_t(int32_t, Fn<int32_t(int32_t)>)>>(
      lib_->function<int32_t(int32_t, Fn<int32_t(int32_t)>)>("reenter"));
  std::mutex mu;
  std::set<std::thread::id> threads;
  int deepest = 100;
  std::function<int32_t(int32_t)> body = [&](int32_t depth) {
    {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
      deepest = std::min(deepest, int(depth));
    }
    return (*reenter_fn)(depth - 1, body);  // the DLL again, from inside its callback
  };
  EXPECT_EQ((*reenter_fn)(8, body), 8);
  EXPECT_EQ(deepest, 1);
  EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()})
      << "the DLL called back during the call: the callable ran on the calling thread, every level";
  // In-process: the same arithmetic.
  static int32_t (*self)(int32_t) = nullptr;
  self = [](int32_t d) { return reenter(d - 1, self); };
  EXPECT_EQ(reenter(8, self), 8);
}

TEST_P(Callbacks, APersistentHandlerHearsEveryEventFromTheLibrarysThreadsInOrder) {
  const Function set_handler = lib_->function(
      "void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), void* ctx)");
  const auto start = lib_->function<int32_t(int32_t, int32_t)>("events_start");
  const auto wait = lib_->function<int32_t()>("events_wait");
  std::mutex mu;
  std::map<std::int64_t, std::vector<std::int64_t>> by_source;
  std::set<std::thread::id> threads;
  Callback handler([&](const std::vector<Value>& args) -> Value {
    std::lock_guard lock(mu);
    by_source[i64(args[0])].push_back(i64(args[1]));
    threads.insert(std::this_thread::get_id());
    EXPECT_EQ(i64(args[2]), 77);
    return Null{};
  });
  set_handler.call({handler, std::uint64_t{77}});
  constexpr int kThreads = 4, kEvents = 50;
  EXPECT_EQ(start(kThreads, kEvents), 0) << "returns at once; the events come after";
  EXPECT_EQ(wait(), kThreads * kEvents);
  std::lock_guard lock(mu);
  ASSERT_EQ(by_source.size(), std::size_t(kThreads));
  for (const auto& [source, seqs] : by_source) {
    ASSERT_EQ(seqs.size(), std::size_t(kEvents)) << "source " << source;
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(seqs[i], i) << "source " << source << ": in order";
  }
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  set_handler.call({Null{}, std::uint64_t{0}});
}

TEST_P(Callbacks, AReleasedCallbackGivesTheLibraryTheDefaultReturn) {
  const Function set_proc = lib_->function("void set_value_proc([persistent] int32_t (*f)(int32_t x))");
  const auto value_call = lib_->function<int32_t(int32_t)>("value_call");
  EXPECT_EQ(value_call(5), -1) << "none set";
  {
    const Callback triple([](const std::vector<Value>& a) -> Value { return i64(a[0]) * 3; });
    set_proc.call({triple});
    EXPECT_EQ(value_call(5), 15);
    EXPECT_EQ(value_call(7), 21) << "still there after the call that passed it";
  }  // the last handle: released
  EXPECT_EQ(value_call(5), 0) << "the default return, whether or not the release reached the surrogate yet";
  EXPECT_EQ(value_call(6), 0);
  // The typed handle releases the same way, and a new one works.
  const auto set_typed = lib_->function<void(PersistentFn<int32_t(int32_t)>)>("set_value_proc");
  PersistentFn<int32_t(int32_t)> plus_one = [](int32_t x) { return x + 1; };
  set_typed(plus_one);
  EXPECT_EQ(value_call(41), 42);
  set_typed(nullptr);
  EXPECT_EQ(value_call(41), -1);
}

TEST_P(Callbacks, ALibraryThatKeepsACallScopedCallbackGetsTheDefaultLater) {
  // Declared without [persistent]: valid during set_value_proc only. The
  // library keeps the pointer anyway and calls it in a later call.
  const Function set_proc = lib_->function("void set_value_proc(int32_t (*f)(int32_t x))");
  const auto value_call = lib_->function<int32_t(int32_t)>("value_call");
  int calls = 0;
  const Callback triple([&](const std::vector<Value>& a) -> Value {
    ++calls;
    return i64(a[0]) * 3;
  });
  set_proc.call({triple});
  EXPECT_EQ(value_call(5), 0) << "the default return, never a crash";
  EXPECT_EQ(calls, 0);
  set_proc.call({Null{}});
  EXPECT_EQ(value_call(5), -1);
  EXPECT_EQ(bridge_->stats().restarts, 0u);
}

TEST_P(Callbacks, ACallbackThatThrowsFailsTheCallAndTheNextCallbackWorks) {
  const Function sort = lib_->function(kSortSig);
  int calls = 0;
  const Callback thrower([&](const std::vector<Value>&) -> Value {
    ++calls;
    throw std::runtime_error("comparator exploded");
  });
  const Error e = error_of([&] { sort.call({List{3, 1, 2}, std::int64_t{3}, thrower}); });
  EXPECT_EQ(e.kind(), ErrorKind::callback_failed) << e.what();
  EXPECT_NE(std::string(e.what()).find("comparator exploded"), std::string::npos) << e.what();
  EXPECT_GE(calls, 1);
  const Callback good([](const std::vector<Value>& a) -> Value { return i64(a[0]) - i64(a[1]); });
  const CallResult r = sort.call({List{3, 1, 2}, std::int64_t{3}, good});
  EXPECT_EQ(ints(r.out.at("v")), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(bridge_->stats().restarts, 0u) << "a throwing callback is no crash";
}

TEST_P(Callbacks, ACallbackThatHangsTimesTheCallOutAndTheSurrogateIsReplacedAtTheDeadline) {
  FunctionOptions quick;
  quick.timeout = std::chrono::milliseconds(500);
  const Function sort = lib_->function(kSortSig, quick);
  const auto add = lib_->function<int32_t(int32_t, int32_t)>("add");
  const auto pid = bridge_->surrogate().pid;
  std::mutex mu;
  std::condition_variable cv;
  bool let_go = false, entered = false;
  const Callback hang([&](const std::vector<Value>&) -> Value {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return let_go; });  // until the test has seen the surrogate replaced
    return std::int64_t{0};
  });
  std::optional<Error> failed;
  std::thread caller([&] { failed = error_of([&] { sort.call({List{3, 1, 2}, std::int64_t{3}, hang}); }); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  // The callable still holds its caller's thread, as a local callback would;
  // the surrogate does not wait for it: replaced at the call's deadline, and
  // other calls go on.
  EXPECT_TRUE(test::eventually([&] { return bridge_->stats().restarts >= 1; }));
  EXPECT_EQ(add(20, 22), 42);
  EXPECT_NE(bridge_->surrogate().pid, pid);
  {
    std::lock_guard lock(mu);
    let_go = true;
  }
  cv.notify_all();
  caller.join();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->kind(), ErrorKind::timeout) << failed->what();
  EXPECT_TRUE(failed->may_have_run());
  const Callback good([](const std::vector<Value>& a) -> Value { return i64(a[0]) - i64(a[1]); });
  // The new surrogate registers sort first: not held to the 500 ms above.
  const CallResult r = sort.call({List{3, 1, 2}, std::int64_t{3}, good}, std::chrono::milliseconds(20000));
  EXPECT_EQ(ints(r.out.at("v")), (std::vector<int32_t>{1, 2, 3}));
}

TEST_P(Callbacks, PersistentCallbacksAreRegisteredAgainInTheOnRestartHook) {
  const Function set_handler = lib_->function(
      "void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), void* ctx)");
  const auto fire = lib_->function<int32_t(int32_t)>("event_fire");
  std::atomic<int> heard{0};
  const Callback handler([&](const std::vector<Value>&) -> Value {
    ++heard;
    return Null{};
  });
  bridge_->on_restart([&] { set_handler.call({handler, std::uint64_t{0}}); });
  set_handler.call({handler, std::uint64_t{0}});
  EXPECT_EQ(fire(1), 1);
  EXPECT_EQ(heard.load(), 1);
  bridge_->restart();  // the library's state is gone with the old surrogate; the hook sets it again
  EXPECT_EQ(fire(2), 1);
  EXPECT_EQ(heard.load(), 2);
}

TEST_P(Callbacks, ManyThreadsMixCallbacksAndForwardCallsAndGetTheirOwnResults) {
  const Function sort = lib_->function(kSortSig);
  const auto add = lib_->function<int32_t(int32_t, int32_t)>("add");
  constexpr int kThreads = 6, kRounds = 15;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        std::vector<int32_t> expected = shuffled(unsigned(t * 100 + round), 12);
        List input;
        for (int32_t x : expected) input.push_back(std::int64_t{x});
        const bool descending = (t + round) % 2 == 1;
        int mine = 0;
        const Callback cmp([&](const std::vector<Value>& a) -> Value {
          ++mine;
          const auto x = i64(a[0]), y = i64(a[1]);
          return std::int64_t{descending ? (y > x) - (y < x) : (x > y) - (x < y)};
        });
        const CallResult r = sort.call({input, std::int64_t{12}, cmp});
        if (descending) {
          std::sort(expected.begin(), expected.end(), std::greater<>());
        } else {
          std::sort(expected.begin(), expected.end());
        }
        if (ints(r.out.at("v")) != expected || i64(r.ret) != mine) ++wrong;
        if (add(t, round) != t + round) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, Callbacks, ::testing::ValuesIn(test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
