// The C API (dllbridge/dllbridge.h) against the real surrogates and sample
// libraries of both bitnesses, its answers checked against dllbridge-call's,
// and its failure paths: null handles, bad JSON and options, status names,
// the thread-local message.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dllbridge/dllbridge.h"
#include "dllbridge/error.hpp"
#include "os.hpp"
#include "test_support.hpp"

using json = nlohmann::json;
namespace paths = dllbridge::test;
namespace os = dllbridge::test::os;
using dllbridge::test::Target;

namespace {

// A string the API returned, freed with dllbridge_free.
struct Owned {
  char* s = nullptr;
  ~Owned() { dllbridge_free(s); }
  json parsed() const { return json::parse(s); }
};

// A bridge (closed at the end) to the parameter's surrogate with its sample loaded.
class CApi : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
    const json options = {{"arch", GetParam().arch == dllbridge::Arch::x86 ? 32 : 64},
                          {"surrogate_path", GetParam().surrogate},
                          {"call_timeout_ms", 20000}};
    ASSERT_EQ(dllbridge_open(options.dump().c_str(), &b_), DLLBRIDGE_OK) << dllbridge_last_error_message();
    ASSERT_EQ(dllbridge_load(b_, GetParam().sample, &lib_), DLLBRIDGE_OK) << dllbridge_last_error_message();
  }
  void TearDown() override { dllbridge_close(b_); }

  dllbridge_function* declare(const char* sig) {
    dllbridge_function* f = nullptr;
    EXPECT_EQ(dllbridge_declare(lib_, sig, &f), DLLBRIDGE_OK)
        << sig << ": " << dllbridge_last_error_message();
    return f;
  }
  // The answer of f(args) with the status it came with.
  json call(dllbridge_function* f, const char* args, dllbridge_status expected = DLLBRIDGE_OK,
            std::int64_t timeout_ms = DLLBRIDGE_DEFAULT_TIMEOUT) {
    Owned r;
    EXPECT_EQ(dllbridge_call_json_timeout(f, args, timeout_ms, &r.s), expected) << args << ": " << r.s;
    return r.s == nullptr ? json() : r.parsed();
  }

  dllbridge_bridge* b_ = nullptr;
  dllbridge_library* lib_ = nullptr;
};

std::string arch_flag(const Target& t) { return t.arch == dllbridge::Arch::x86 ? "32" : "64"; }

// What dllbridge-call --json printed for the same call, without its newline.
std::string cli_answer(const Target& t, const std::string& sig, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {paths::kDllbridgeCall, "--json",    "--arch", arch_flag(t),
                                   "--surrogate",         t.surrogate, t.sample, sig};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out = os::run(argv, "").out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// An answer without its timings, which differ from call to call.
json untimed(json j) {
  j.erase("elapsed_us");
  j.erase("dll_us");
  return j;
}

}  // namespace

TEST_P(CApi, OpenLoadDeclareCallJson) {
  dllbridge_function* add = declare("int32_t add(int32_t a, int32_t b);");
  const json j = call(add, "[2, 40]");
  EXPECT_EQ(j["return"], 42);
  EXPECT_EQ(j["out"], json::object());
  EXPECT_EQ(j["last_error"], 0);
  EXPECT_TRUE(j["elapsed_us"].is_number());
  EXPECT_TRUE(j["dll_us"].is_number());
  EXPECT_EQ(call(add, "[-7, 3]")["return"], -4);
}

TEST_P(CApi, AnswersAreWhatDllbridgeCallPrints) {
  DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
  struct Case {
    const char* sig;
    const char* args_json;
    std::vector<std::string> cli_args;
    dllbridge_status status;
  };
  const Case cases[] = {
      {"int divmod(int a, int b, [out] int* q, [out] int* r)", "[47, 6]", {"47", "6"}, DLLBRIDGE_OK},
      {"int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)",
       "[\"h\xc3\xa9llo\", 16]",
       {"\"h\xc3\xa9llo\"", "16"},
       DLLBRIDGE_OK},
      {"const char* not_utf8(void)", "[]", {}, DLLBRIDGE_OK},
      {"int32_t set_errno(int32_t value)", "[5]", {"5"}, DLLBRIDGE_OK},
      {"int32_t add(int32_t a, int32_t b)", "[1, 4294967296]", {"1", "4294967296"}, DLLBRIDGE_BAD_ARGUMENT},
      {"int32_t add(int32_t a, int32_t b)", "[1]", {"1"}, DLLBRIDGE_BAD_ARGUMENT},
      // Too deep: the message names the argument as dllbridge-call does.
      {"int32_t add(int32_t a, int32_t b)",
       "[1, [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
       {"1", "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]"},
       DLLBRIDGE_BAD_ARGUMENT},
  };
  for (const Case& c : cases) {
    dllbridge_function* f = declare(c.sig);
    Owned r;
    EXPECT_EQ(dllbridge_call_json(f, c.args_json, &r.s), c.status) << c.sig;
    ASSERT_NE(r.s, nullptr);
    const std::string cli = cli_answer(GetParam(), c.sig, c.cli_args);
    if (c.status == DLLBRIDGE_OK) {
      EXPECT_EQ(untimed(r.parsed()), untimed(json::parse(cli))) << c.sig;
    } else {
      EXPECT_EQ(std::string(r.s), cli) << c.sig;  // byte for byte: errors have no timings
      EXPECT_EQ(r.parsed()["error"]["message"], dllbridge_last_error_message());
    }
  }
}

TEST_P(CApi, TextBuffersStructsAndHandles) {
  EXPECT_EQ(call(declare("size_t str_len(const char* s)"), "[\"hello\"]")["return"], 5);
  EXPECT_EQ(call(declare("const char* greeting(void)"), nullptr)["return"], "hello from sample");
  const json up = call(declare("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)"),
                       "[\"legacy api\", 32]");
  EXPECT_EQ(up["out"]["out"], "LEGACY API");
  EXPECT_EQ(up["return"], 10);
  EXPECT_EQ(call(declare("int32_t sum_i32([in, size_is(n)] const int32_t* v, int32_t n)"),
                 "[[1, 2, 3, 4], 4]")["return"],
            10);
  const json scaled = call(declare("void scale_i64([in, out, size_is(n)] int64_t* v, int32_t n, int64_t k)"),
                           "[[1, -2, 3], 3, 10]");
  EXPECT_EQ(scaled["out"]["v"], json::parse("[10, -20, 30]"));
  const json grown = call(declare("struct P { int x; int y; }; struct R { struct P tl; struct P br; }; "
                                  "void rect_grow([in, out] struct R* r, int by)"),
                          R"([{"tl": {"x": 1, "y": 1}, "br": {"x": 4, "y": 5}}, 1])");
  EXPECT_EQ(grown["out"]["r"], json::parse(R"({"tl": {"x": 0, "y": 0}, "br": {"x": 5, "y": 6}})"));
  // A handle made by one call, used by the next ones.
  const json made = call(declare("int obj_create(int initial, [out] void** h)"), "[30]");
  ASSERT_EQ(made["return"], 0);
  const std::string h = made["out"]["h"].dump();
  EXPECT_EQ(call(declare("int obj_add(void* h, int v)"), ("[" + h + ", 12]").c_str())["return"], 42);
  EXPECT_EQ(call(declare("int obj_get(void* h)"), ("[" + h + "]").c_str())["return"], 42);
  call(declare("void obj_destroy(void* h)"), ("[" + h + "]").c_str());
}

TEST_P(CApi, ErrnoCrashAndTimeout) {
  const json e = call(declare("int32_t set_errno(int32_t value)"), "[13]");
  EXPECT_EQ(e["return"], -1);
  EXPECT_EQ(e["last_error"], 13);
  const json crash = call(declare("int32_t crash_segv(void)"), "[]", DLLBRIDGE_CRASHED);
  EXPECT_EQ(crash["error"]["kind"], "crashed");
  EXPECT_EQ(crash["error"]["message"], dllbridge_last_error_message());
  dllbridge_function* add = declare("int32_t add(int32_t a, int32_t b)");
  EXPECT_EQ(call(add, "[2, 40]")["return"], 42) << "a new surrogate took over";
  const json hung = call(declare("int32_t hang_forever(void)"), "[]", DLLBRIDGE_TIMEOUT, 300);
  EXPECT_EQ(hung["error"]["kind"], "timeout");
  EXPECT_EQ(call(add, "[1, 1]")["return"], 2);
}

TEST_P(CApi, CallsFromSeveralThreadsAtOnce) {
  dllbridge_function* add = declare("int32_t add(int32_t a, int32_t b)");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        char* r = nullptr;
        const std::string args = "[" + std::to_string(t * 1000) + ", " + std::to_string(i) + "]";
        if (dllbridge_call_json(add, args.c_str(), &r) != DLLBRIDGE_OK ||
            json::parse(r)["return"] != t * 1000 + i)
          ++wrong;
        dllbridge_free(r);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_P(CApi, ARecordingStubIsAcceptedAndReported) {
  dllbridge_function* sort = declare(
      "int32_t sort_i32([in, out, size_is(n)] int32_t* v, int32_t n, "
      "int32_t (*cmp)(const int32_t* a, const int32_t* b))");
  const json j = call(sort, R"([[2, 1], 2, {"callback": {"returns": 0}}])");
  ASSERT_TRUE(j["callbacks"].is_array()) << j;
  EXPECT_FALSE(j["callbacks"].empty());
  EXPECT_EQ(j["callbacks"][0]["param"], "cmp");
}

TEST_P(CApi, APersistentStubIsAcceptedAndItsLaterInvocationsAreNotReported) {
  dllbridge_function* set = declare(
      "void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), void* ctx)");
  const json j = call(set, R"([{"callback": {}}, 77])");
  EXPECT_EQ(j["callbacks"], json::array()) << j;
  dllbridge_function* fire = declare("int32_t event_fire(int32_t seq)");
  for (int seq : {5, 6}) {
    const json fired = call(fire, ("[" + std::to_string(seq) + "]").c_str());
    EXPECT_EQ(fired["return"], 1) << "the handler is still set: " << fired;
    EXPECT_FALSE(fired.contains("callbacks")) << "invocations after the stub's own call are not reported";
  }
  call(set, "[null, 0]");
  EXPECT_EQ(call(fire, "[7]")["return"], 0);
}

TEST_P(CApi, CallValues) {
  dllbridge_function* add = declare("int32_t add(int32_t a, int32_t b)");
  dllbridge_value args[2];
  args[0].kind = DLLBRIDGE_VALUE_INT;
  args[0].as.i = -2;
  args[1].kind = DLLBRIDGE_VALUE_UINT;
  args[1].as.u = 44;
  dllbridge_value ret{};
  ASSERT_EQ(dllbridge_call_values(add, args, 2, DLLBRIDGE_DEFAULT_TIMEOUT, &ret, nullptr), DLLBRIDGE_OK)
      << dllbridge_last_error_message();
  EXPECT_EQ(ret.kind, DLLBRIDGE_VALUE_INT);
  EXPECT_EQ(ret.as.i, 42);

  dllbridge_value d[4];
  d[0].kind = DLLBRIDGE_VALUE_INT;
  d[0].as.i = 1;
  d[1].kind = DLLBRIDGE_VALUE_DOUBLE;
  d[1].as.d = 0.5;
  d[2].kind = DLLBRIDGE_VALUE_DOUBLE;
  d[2].as.d = 0.25;
  d[3].kind = DLLBRIDGE_VALUE_INT;
  d[3].as.i = 2;
  ASSERT_EQ(dllbridge_call_values(declare("double mix_d(int32_t a, double b, float c, int64_t d)"), d, 4,
                                  5000, &ret, nullptr),
            DLLBRIDGE_OK)
      << dllbridge_last_error_message();
  EXPECT_EQ(ret.kind, DLLBRIDGE_VALUE_DOUBLE);

  dllbridge_value code{};
  code.kind = DLLBRIDGE_VALUE_INT;
  code.as.i = 7;
  std::int64_t last_error = 0;
  ASSERT_EQ(dllbridge_call_values(declare("int32_t set_errno(int32_t value)"), &code, 1,
                                  DLLBRIDGE_DEFAULT_TIMEOUT, &ret, &last_error),
            DLLBRIDGE_OK);
  EXPECT_EQ(ret.as.i, -1);
  EXPECT_EQ(last_error, 7);

  ASSERT_EQ(dllbridge_call_values(declare("void counter_reset(void)"), nullptr, 0, DLLBRIDGE_DEFAULT_TIMEOUT,
                                  &ret, nullptr),
            DLLBRIDGE_OK);
  EXPECT_EQ(ret.kind, DLLBRIDGE_VALUE_NULL);

  // Not for pointers, nor for kinds that are none of dllbridge_kind, nor for too few arguments.
  EXPECT_EQ(dllbridge_call_values(declare("size_t str_len(const char* s)"), &code, 1,
                                  DLLBRIDGE_DEFAULT_TIMEOUT, &ret, nullptr),
            DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_NE(std::string(dllbridge_last_error_message()).find("dllbridge_call_json"), std::string::npos);
  const int not_a_kind = 9;  // as a C caller may store it (a C++ enum cast would be undefined)
  static_assert(sizeof not_a_kind == sizeof args[1].kind);
  std::memcpy(&args[1].kind, &not_a_kind, sizeof not_a_kind);
  EXPECT_EQ(dllbridge_call_values(add, args, 2, DLLBRIDGE_DEFAULT_TIMEOUT, &ret, nullptr),
            DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_call_values(add, args, 1, DLLBRIDGE_DEFAULT_TIMEOUT, &ret, nullptr),
            DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_call_values(add, nullptr, 2, DLLBRIDGE_DEFAULT_TIMEOUT, &ret, nullptr),
            DLLBRIDGE_BAD_ARGUMENT);
}

TEST_P(CApi, StatsAndRestart) {
  Owned before;
  ASSERT_EQ(dllbridge_stats_json(b_, &before.s), DLLBRIDGE_OK);
  const json s = before.parsed();
  EXPECT_EQ(s["bits"], GetParam().pointer_size * 8);
  EXPECT_EQ(s["state"], "ready");
  ASSERT_EQ(dllbridge_restart(b_), DLLBRIDGE_OK) << dllbridge_last_error_message();
  EXPECT_EQ(call(declare("int32_t add(int32_t a, int32_t b)"), "[2, 40]")["return"], 42);
  Owned after;
  ASSERT_EQ(dllbridge_stats_json(b_, &after.s), DLLBRIDGE_OK);
  EXPECT_NE(after.parsed()["pid"], s["pid"]);
  EXPECT_EQ(after.parsed()["restarts"], 1);
}

TEST_P(CApi, CloseStopsTheSurrogate) {
  Owned stats;
  ASSERT_EQ(dllbridge_stats_json(b_, &stats.s), DLLBRIDGE_OK);
  const auto pid = stats.parsed()["pid"].get<std::uint32_t>();
  ASSERT_GT(pid, 0u);
  EXPECT_FALSE(os::process_gone(pid));
  dllbridge_close(b_);
  b_ = nullptr;
  EXPECT_TRUE(os::process_gone(pid)) << "closed means stopped and reaped, as ~Bridge does";
}

TEST_P(CApi, BadArgumentsAreBadArgumentWithAnAnswer) {
  dllbridge_function* add = declare("int32_t add(int32_t a, int32_t b)");
  for (const char* args : {"[1, ", "{\"a\": 1}", "17", "[1, \"x\"]", "[1, 2, 3]"}) {
    const json j = call(add, args, DLLBRIDGE_BAD_ARGUMENT);
    EXPECT_EQ(j["error"]["kind"], "bad_argument") << args;
    EXPECT_EQ(j["error"]["message"], dllbridge_last_error_message()) << args;
  }
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{-5}, std::int64_t{7} * 24 * 3600 * 1000 + 1}) {
    const json j = call(add, "[1, 2]", DLLBRIDGE_BAD_ARGUMENT, t);
    EXPECT_NE(j["error"]["message"].get<std::string>().find("timeout_ms"), std::string::npos) << j;
  }
  // The answer is optional.
  EXPECT_EQ(dllbridge_call_json(add, "[2, 40]", nullptr), DLLBRIDGE_OK);
  EXPECT_EQ(dllbridge_call_json(add, "[", nullptr), DLLBRIDGE_BAD_ARGUMENT);
}

TEST_P(CApi, DeclareAndLoadFailuresHaveTheirKinds) {
  dllbridge_function* f = reinterpret_cast<dllbridge_function*>(&f);
  EXPECT_EQ(dllbridge_declare(lib_, "int32_t add(int32_t a,", &f), DLLBRIDGE_BAD_SIGNATURE);
  EXPECT_EQ(f, reinterpret_cast<dllbridge_function*>(&f)) << "*out untouched on failure";
  EXPECT_EQ(dllbridge_declare(lib_, "int32_t no_such_export(void)", &f), DLLBRIDGE_SYMBOL_NOT_FOUND);
  EXPECT_NE(std::string(dllbridge_last_error_message()).find("no_such_export"), std::string::npos);
  EXPECT_EQ(dllbridge_declare_ex(lib_, "int32_t add(int32_t a, int32_t b)", "{\"idempotent\": 1}", &f),
            DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_declare_ex(lib_, "int32_t add(int32_t a, int32_t b)", "{\"retries\": 1}", &f),
            DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_declare_ex(lib_, "int32_t add(int32_t a, int32_t b)", "{\"timeout_ms\": 0}", &f),
            DLLBRIDGE_BAD_ARGUMENT);
  ASSERT_EQ(dllbridge_declare_ex(lib_, "int32_t alias(int32_t a, int32_t b)",
                                 R"({"idempotent": true, "timeout_ms": 5000, "symbol": "add"})", &f),
            DLLBRIDGE_OK)
      << dllbridge_last_error_message();
  EXPECT_EQ(call(f, "[40, 2]")["return"], 42);
  dllbridge_library* l = nullptr;
  EXPECT_EQ(dllbridge_load(b_, "/no/such/library.so", &l), DLLBRIDGE_LIBRARY_LOAD_FAILED);
  EXPECT_EQ(l, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Surrogates, CApi, ::testing::ValuesIn(dllbridge::test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });

// Failure paths that need no surrogate.
TEST(CApiChecks, NullHandlesAndOutPointersAreBadArgument) {
  dllbridge_bridge* b = nullptr;
  dllbridge_library* l = nullptr;
  dllbridge_function* f = nullptr;
  char* s = nullptr;
  EXPECT_EQ(dllbridge_open(nullptr, nullptr), DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_load(nullptr, "x", &l), DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_NE(std::string(dllbridge_last_error_message()).find("NULL"), std::string::npos);
  EXPECT_EQ(dllbridge_declare(nullptr, "int f(void)", &f), DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_declare_ex(nullptr, "int f(void)", nullptr, &f), DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_call_json(nullptr, "[]", &s), DLLBRIDGE_BAD_ARGUMENT);
  ASSERT_NE(s, nullptr) << "an answer even then";
  EXPECT_EQ(json::parse(s)["error"]["kind"], "bad_argument");
  dllbridge_free(s);
  EXPECT_EQ(dllbridge_call_values(nullptr, nullptr, 0, DLLBRIDGE_DEFAULT_TIMEOUT, nullptr, nullptr),
            DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(dllbridge_stats_json(nullptr, &s), DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(s, nullptr);
  EXPECT_EQ(dllbridge_restart(nullptr), DLLBRIDGE_BAD_ARGUMENT);
  EXPECT_EQ(b, nullptr);
  dllbridge_close(nullptr);
  dllbridge_free(nullptr);
}

TEST(CApiChecks, BadOptionsAreBadArgumentAndStartNothing) {
  for (const char* options :
       {"{", "[]", "{\"arch\": 31}", "{\"arch\": \"32\"}", "{\"call_timeout_ms\": 0}",
        "{\"call_timeout_ms\": 1.5}", "{\"low_latency\": 1}", "{\"surrogate_log_level\": \"loud\"}",
        "{\"surrogate_path\": 3}", "{\"no_such_option\": true}", "{\"pool_size\": 0}", "{\"pool_size\": 65}",
        "{\"pool_size\": \"2\"}", "{\"shared_region\": 1}", "{\"region_budget\": -1}",
        "{\"region_budget\": 1.5}", "{\"region_budget\": \"64M\"}", "{\"fork_server\": \"yes\"}"}) {
    dllbridge_bridge* b = reinterpret_cast<dllbridge_bridge*>(&options);
    EXPECT_EQ(dllbridge_open(options, &b), DLLBRIDGE_BAD_ARGUMENT) << options;
    EXPECT_EQ(b, reinterpret_cast<dllbridge_bridge*>(&options)) << options;
    EXPECT_NE(std::string(dllbridge_last_error_message()).find("options_json"), std::string::npos)
        << dllbridge_last_error_message();
  }
}

// "pool_size" reaches BridgeOptions: two surrogates start, and calls go through.
TEST_P(CApi, PoolSizeStartsThatManySurrogates) {
  dllbridge_bridge* pool = nullptr;
  const json options = {{"arch", GetParam().arch == dllbridge::Arch::x86 ? 32 : 64},
                        {"surrogate_path", GetParam().surrogate},
                        {"pool_size", 2}};
  ASSERT_EQ(dllbridge_open(options.dump().c_str(), &pool), DLLBRIDGE_OK) << dllbridge_last_error_message();
  dllbridge_library* lib = nullptr;
  ASSERT_EQ(dllbridge_load(pool, GetParam().sample, &lib), DLLBRIDGE_OK) << dllbridge_last_error_message();
  dllbridge_function* add = nullptr;
  ASSERT_EQ(dllbridge_declare(lib, "int32_t add(int32_t a, int32_t b)", &add), DLLBRIDGE_OK);
  Owned r;
  ASSERT_EQ(dllbridge_call_json(add, "[2, 40]", &r.s), DLLBRIDGE_OK) << r.s;
  EXPECT_EQ(r.parsed()["return"], 42);
  Owned stats;
  ASSERT_EQ(dllbridge_stats_json(pool, &stats.s), DLLBRIDGE_OK);
  EXPECT_EQ(stats.parsed()["starts"], 2) << stats.s;
  dllbridge_close(pool);
}

// "fork_server" is accepted; two bridges' calls go through (what it does is
// tested through BridgeOptions in fork_server_e2e_posix_test.cpp).
TEST_P(CApi, ForkServerIsAnOption) {
  const json options = {{"arch", GetParam().arch == dllbridge::Arch::x86 ? 32 : 64},
                        {"surrogate_path", GetParam().surrogate},
                        {"fork_server", true}};
  for (int i = 0; i < 2; ++i) {
    dllbridge_bridge* b = nullptr;
    ASSERT_EQ(dllbridge_open(options.dump().c_str(), &b), DLLBRIDGE_OK) << dllbridge_last_error_message();
    dllbridge_library* lib = nullptr;
    ASSERT_EQ(dllbridge_load(b, GetParam().sample, &lib), DLLBRIDGE_OK) << dllbridge_last_error_message();
    dllbridge_function* add = nullptr;
    ASSERT_EQ(dllbridge_declare(lib, "int32_t add(int32_t a, int32_t b)", &add), DLLBRIDGE_OK);
    Owned r;
    ASSERT_EQ(dllbridge_call_json(add, "[2, 40]", &r.s), DLLBRIDGE_OK) << r.s;
    EXPECT_EQ(r.parsed()["return"], 42);
    dllbridge_close(b);
  }
}

// "shared_region" and "region_budget" are accepted and a 64 KiB buffer
// (placed in the region when there is one) crosses framed; what they do is
// tested through BridgeOptions in region_budget_posix_test.cpp.
TEST_P(CApi, SharedRegionOffStillCarriesBuffers) {
  dllbridge_bridge* b = nullptr;
  const json options = {{"arch", GetParam().arch == dllbridge::Arch::x86 ? 32 : 64},
                        {"surrogate_path", GetParam().surrogate},
                        {"shared_region", false},
                        {"region_budget", 0}};
  ASSERT_EQ(dllbridge_open(options.dump().c_str(), &b), DLLBRIDGE_OK) << dllbridge_last_error_message();
  dllbridge_library* lib = nullptr;
  ASSERT_EQ(dllbridge_load(b, GetParam().sample, &lib), DLLBRIDGE_OK) << dllbridge_last_error_message();
  dllbridge_function* fn = nullptr;
  ASSERT_EQ(
      dllbridge_declare(lib, "void xor_u8([in, out, size_is(n)] uint8_t* v, int32_t n, uint8_t k)", &fn),
      DLLBRIDGE_OK)
      << dllbridge_last_error_message();
  json small = json::array({std::vector<int>(std::size_t{1} << 16, 15), 1 << 16, 240});
  Owned r;
  ASSERT_EQ(dllbridge_call_json(fn, small.dump().c_str(), &r.s), DLLBRIDGE_OK) << r.s;
  EXPECT_EQ(r.parsed()["out"]["v"], std::vector<int>(std::size_t{1} << 16, 255));
  dllbridge_close(b);
}

TEST(CApiChecks, NoSurrogateIsSurrogateStartFailed) {
  dllbridge_bridge* b = nullptr;
  EXPECT_EQ(dllbridge_open(R"({"surrogate_path": "/no/such/surrogate"})", &b),
            DLLBRIDGE_SURROGATE_START_FAILED);
  EXPECT_EQ(b, nullptr);
}

TEST(CApiChecks, StatusNamesAreTheErrorKindsSpellings) {
  EXPECT_STREQ(dllbridge_status_name(DLLBRIDGE_OK), "ok");
  EXPECT_STREQ(dllbridge_status_name(DLLBRIDGE_INTERNAL), "internal");
  // Status k + 1 is ErrorKind k: one list, in the same order.
  for (int k = 0; k <= static_cast<int>(dllbridge::ErrorKind::callback_failed); ++k) {
    EXPECT_EQ(dllbridge_status_name(k + 1), dllbridge::to_string(static_cast<dllbridge::ErrorKind>(k))) << k;
  }
  for (int unknown : {-1, DLLBRIDGE_INTERNAL + 1, 1000})
    EXPECT_STREQ(dllbridge_status_name(unknown), "unknown");
}

TEST(CApiChecks, TheLastErrorMessageIsPerThread) {
  EXPECT_EQ(dllbridge_open("{\"arch\": 31}", nullptr), DLLBRIDGE_BAD_ARGUMENT);
  dllbridge_bridge* b = nullptr;
  EXPECT_EQ(dllbridge_open("{\"arch\": 31}", &b), DLLBRIDGE_BAD_ARGUMENT);
  const std::string mine = dllbridge_last_error_message();
  EXPECT_NE(mine.find("arch"), std::string::npos);
  std::string theirs_before, theirs_after;
  std::thread([&] {
    theirs_before = dllbridge_last_error_message();
    dllbridge_restart(nullptr);
    theirs_after = dllbridge_last_error_message();
  }).join();
  EXPECT_EQ(theirs_before, "") << "nothing failed on that thread yet";
  EXPECT_NE(theirs_after.find("NULL"), std::string::npos);
  EXPECT_EQ(dllbridge_last_error_message(), mine) << "another thread's failure leaves this one's message";
}
