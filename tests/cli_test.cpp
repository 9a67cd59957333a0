// dllbridge-call as a user runs it: a real process, its output parsed as JSON.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>
#include <nlohmann/json.hpp>

#include "os.hpp"
#include "sample.h"
#include "test_paths.hpp"
#include "test_support.hpp"

using json = nlohmann::json;
namespace paths = dllbridge::test;
namespace os = dllbridge::test::os;

namespace {

// dllbridge-call with these arguments (no shell in between) and stdin.
os::Output run(std::vector<std::string> args, const std::string& stdin_text = "") {
  args.insert(args.begin(), paths::kDllbridgeCall);
  return os::run(args, stdin_text);
}

// Every test here runs dllbridge-call (whose default surrogate is the 32-bit one).
class Cli : public ::testing::Test {
 protected:
  void SetUp() override { DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL(); }
};

}  // namespace

TEST_F(Cli, CallsThe32BitLibraryAndPrintsJson) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = run({"--json", paths::kSample32, "int __stdcall add_std(int a, int b)", "2", "40"});
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 42);
  EXPECT_EQ(j["last_error"], 0);
  EXPECT_TRUE(j["out"].is_object());
  EXPECT_TRUE(j["elapsed_us"].is_number());
}

TEST_F(Cli, Arch64AndText) {
  os::Output r =
      run({"--json", "--arch", "64", paths::kSample64, "size_t str_len(const char* s)", "\"hello\""});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"], 5);
}

TEST_F(Cli, ABoolTakesTrueFalseZeroAndOneAndNothingElse) {
  const auto not_b = [](const char* arg) {
    return run({"--json", "--arch", "64", paths::kSample64, "bool not_b(bool v)", arg});
  };
  for (const auto& [arg, expected] : {std::pair{"true", false}, {"1", false}, {"false", true}, {"0", true}}) {
    const os::Output r = not_b(arg);
    ASSERT_EQ(r.status, 0) << arg << ": " << r.out;
    EXPECT_EQ(json::parse(r.out)["return"], expected) << arg;
  }
  const os::Output two = not_b("2");
  EXPECT_NE(two.status, 0);
  EXPECT_EQ(json::parse(two.out)["error"]["kind"], "bad_argument") << two.out;
}

TEST_F(Cli, SixtyFourBitIntegersAreExact) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = run(
      {"--json", paths::kSample32, "uint64_t add_u64(uint64_t a, uint64_t b)", "18446744073709551600", "15"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"].get<std::uint64_t>(), 18446744073709551615u);
}

TEST_F(Cli, ErrorsAreJsonWithAKindAndANonZeroExit) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = run({"--json", paths::kSample32, "int missing(int)", "1"});
  EXPECT_NE(r.status, 0);
  json j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "symbol_not_found");
  r = run({"--json", "/nonexistent.so", "int f(void)"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "library_load_failed");
  r = run({"--json", paths::kSample32, "int add(int a, int b)", "1", "\"x\""});
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "bad_argument");
  r = run({"--json", paths::kSample32, "int add(int a int b)", "1", "2"});
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "bad_signature");
  r = run({"--json", paths::kSample32, "int crash_segv(void)"});
  j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "crashed");
  EXPECT_NE(j["error"]["message"].get<std::string>().find(os::kFaults.segv), std::string::npos);
  r = run({"--json", "--timeout-ms", "300", paths::kSample32, "int sleep_ms(int)", "30000"});
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "timeout");
}

TEST_F(Cli, TextThatIsNotUtf8StillGivesValidJson) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = run({"--json", paths::kSample32, "const char* not_utf8(void)"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"],
            "A\xEF\xBF\xBD\xEF\xBF\xBD"
            "B")
      << "each bad byte becomes U+FFFD";
}

TEST_F(Cli, RepeatReportsLatencyPercentiles) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = run({"--json", "--repeat", "50", paths::kSample32, "int add(int, int)", "1", "2"});
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 3);
  for (const char* k : {"p50", "p90", "p99", "max"}) ASSERT_TRUE(j["latency_us"][k].is_number()) << k;
  EXPECT_LE(j["latency_us"]["p50"].get<double>(), j["latency_us"]["max"].get<double>());
}

TEST_F(Cli, StatsShowTheSurrogateAndItsFigures) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = run({"--json", "--stats", "--repeat", "5", paths::kSample32, "int add(int, int)", "1", "2"});
  ASSERT_EQ(r.status, 0) << r.out;
  const json st = json::parse(r.out)["stats"];
  EXPECT_EQ(st["bits"], 32);
  EXPECT_EQ(st["state"], "ready");
  EXPECT_EQ(st["calls_ok"], 5);
  EXPECT_GT(st["pid"].get<int>(), 0);
  EXPECT_GT(st["process"]["resident_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(st["breaker"], "closed");
}

TEST_F(Cli, BatchAnswersEachLineInOneSession) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  const std::string input = R"J({"signature": "int counter_next(void)", "args": []})J"
                            "\n"
                            R"J({"signature": "int counter_next(void)"})J"
                            "\n"
                            R"J({"signature": "int add(int a, int b)", "args": [40, 2]})J"
                            "\n"
                            "not json\n"
                            R"J({"signature": "int sleep_ms(int)", "args": [20000], "timeout_ms": 200})J"
                            "\n";
  os::Output r = run({"--batch", paths::kSample32}, input);
  EXPECT_NE(r.status, 0) << "some lines failed, so the exit status says so";
  std::vector<json> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_EQ(lines[0]["return"], 1);
  EXPECT_EQ(lines[1]["return"], 2);  // same surrogate: the library kept its state
  EXPECT_EQ(lines[2]["return"], 42);
  EXPECT_EQ(lines[3]["error"]["kind"], "bad_argument");
  EXPECT_EQ(lines[4]["error"]["kind"], "timeout");
}

TEST_F(Cli, StandaloneSurrogateHelpAndUsage) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r = os::run({paths::kSurrogate32, "--help"});
  if (r.status == 127)
    r = os::run({"/usr/bin/qemu-i386-static", paths::kSurrogate32, "--help"});  // no IA-32 kernel
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--listen"), std::string::npos) << r.out;
}

TEST_F(Cli, OutParametersStructsAndBuffersAsJson) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  os::Output r =
      run({"--json", paths::kSample32, "int divmod(int a, int b, [out] int* q, [out] int* r)", "47", "6"});
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 0);
  EXPECT_EQ(j["out"], json::parse(R"({"q": 7, "r": 5})"));

  const std::string rect = "struct P { int x; int y; }; struct R { struct P tl; struct P br; }; ";
  r = run({"--json", paths::kSample32, rect + "void rect_grow([in, out] struct R* r, int by)",
           R"({"tl": {"x": 1, "y": 1}, "br": {"x": 4, "y": 5}})", "1"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["r"],
            json::parse(R"({"tl": {"x": 0, "y": 0}, "br": {"x": 5, "y": 6}})"));

  r = run({"--json", paths::kSample32, "void scale_i64([in, out, size_is(n)] int64_t* v, int n, int64_t k)",
           "[1, -2, 4294967296]", "3", "-2"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["v"], json::parse("[-2, 4, -8589934592]"));

  r = run({"--json", paths::kSample32,
           "int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)", "\"h\xc3\xa9llo\"",
           "16"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["out"], "H\xc3\xa9LLO");  // toupper leaves the UTF-8 bytes alone

  r = run({"--json", paths::kSample32,
           "int fmt_print([out, size_is(cap)] char* out, int cap, const char* f, ...)", "32",
           "\"%d-%s-%.1f\"", "{\"int\": 7}", "{\"string\": \"x\"}", "{\"double\": 0.5}"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["out"], "7-x-0.5");

  r = run({"--json", paths::kSample32, "int sum_i32([in, size_is(n)] const int* v, int n)", "[1, 2]", "3"});
  EXPECT_NE(r.status, 0);
  j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "bad_argument");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("'v'"), std::string::npos) << r.out;
}

namespace {

// dllbridge-call --batch as a conversation: each line is written only after
// the previous answer was read, so a later request can use an earlier result.
class Conversation {
 public:
  explicit Conversation(std::vector<std::string> args) {
    args.insert(args.begin(), paths::kDllbridgeCall);
    child_ = os::Child::start(args);
  }
  ~Conversation() {
    child_->close_stdin();  // end of input: dllbridge-call ends the session and exits
    EXPECT_NE(child_->wait(), -1);
  }
  json ask(const json& request) {
    EXPECT_TRUE(child_->write(request.dump() + "\n"));
    return json::parse(child_->read_line());
  }

 private:
  std::unique_ptr<os::Child> child_;
};

}  // namespace

TEST_F(Cli, BatchHandlesStayValidBetweenLines) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  Conversation c({"--batch", paths::kSample32});
  const json created = c.ask({{"signature", "int obj_create(int initial, [out] void** h)"}, {"args", {30}}});
  ASSERT_EQ(created["return"], 0) << created.dump();
  const json h = created["out"]["h"];
  ASSERT_TRUE(h.is_number_unsigned()) << created.dump();
  EXPECT_EQ(c.ask({{"signature", "int obj_add(void* h, int v)"}, {"args", {h, 12}}})["return"], 42);
  EXPECT_EQ(c.ask({{"signature", "int obj_get(HANDLE h)"}, {"args", {h}}})["return"], 42);
  EXPECT_TRUE(c.ask({{"signature", "void obj_destroy(void* h)"}, {"args", {h}}})["return"].is_null());
}

namespace {

// The answers of a --batch run, one JSON object per line.
std::vector<json> answers(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

}  // namespace

TEST_F(Cli, BatchRejectsATimeoutThatIsNotADeadlineOnThatLineAndGoesOn) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  const std::vector<std::string> bad = {"\"abc\"", "null",  "1.5", "0",    "-5",       "18446744073709551615",
                                        "1e300",   "[100]", "{}",  "true", "604800001"};
  std::string input;
  for (const std::string& t : bad) {
    input += R"J({"signature": "int add(int a, int b)", "args": [1, 2], "timeout_ms": )J" + t + "}\n";
  }
  // The longest deadline allowed (7 days) is a real deadline, not an overflow into an instant timeout.
  input +=
      std::string(R"J({"signature": "int sleep_ms(int)", "args": [50], "timeout_ms": 604800000})J") + "\n";
  input += std::string(R"J({"signature": "int add(int a, int b)", "args": [20, 22], "timeout_ms": 20000})J") +
           "\n";
  os::Output r = run({"--batch", paths::kSample32}, input);
  EXPECT_EQ(r.status, 1) << "some lines failed, so the exit status says so (and the program did not die)";
  const std::vector<json> lines = answers(r.out);
  ASSERT_EQ(lines.size(), bad.size() + 2) << r.out;
  for (std::size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE("timeout_ms " + bad[i]);
    ASSERT_TRUE(lines[i].contains("error")) << lines[i].dump();
    EXPECT_EQ(lines[i]["error"]["kind"], "bad_argument");
    const std::string message = lines[i]["error"]["message"];
    EXPECT_NE(message.find("line " + std::to_string(i + 1)), std::string::npos) << message;
    EXPECT_NE(message.find("timeout_ms"), std::string::npos) << message;
    EXPECT_NE(message.find("604800000"), std::string::npos) << "names the range: " << message;
  }
  EXPECT_EQ(lines[bad.size()]["return"], 50) << lines[bad.size()].dump();
  EXPECT_EQ(lines[bad.size() + 1]["return"], 42) << lines[bad.size() + 1].dump();
}

TEST_F(Cli, TimeoutOptionOutOfRangeIsAUsageError) {
  DLLBRIDGE_SKIP_WITHOUT_32BIT();
  for (const char* t : {"0", "-5", "604800001", "9223372036854775807"}) {
    SCOPED_TRACE(std::string("--timeout-ms ") + t);
    os::Output r = run({"--json", "--timeout-ms", t, paths::kSample32, "int add(int a, int b)", "1", "2"});
    EXPECT_EQ(r.status, 2) << r.out;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["error"]["kind"], "bad_argument");
    EXPECT_NE(j["error"]["message"].get<std::string>().find("--timeout-ms"), std::string::npos) << r.out;
  }
  os::Output r = run({"--json", "--timeout-ms", "604800000", paths::kSample32, "int sleep_ms(int)", "50"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"], 50) << "the longest deadline is not an instant timeout";
  r = run({"--json", "--timeout-ms", "abc", paths::kSample32, "int add(int a, int b)", "1", "2"});
  EXPECT_NE(r.status, 0) << "not a number: refused by the option parser";
  EXPECT_EQ(r.out.find("\"return\""), std::string::npos) << r.out;
}

// ---- recording stubs for function-pointer parameters (docs/cli.md, sections 3 and 4) ----

namespace {

using dllbridge::test::Target;

// dllbridge-call against one surrogate and its sample library.
class CliCallbacks : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    DLLBRIDGE_SKIP_WITHOUT_CALL_TOOL();
    DLLBRIDGE_SKIP_WITHOUT_TARGET(GetParam());
  }
  // dllbridge-call --arch N [options...] SAMPLE rest...
  os::Output call(std::vector<std::string> options, std::vector<std::string> rest,
                  const std::string& stdin_text = "") const {
    options.insert(options.begin(), {"--arch", GetParam().pointer_size == 4 ? "32" : "64"});
    options.push_back(GetParam().sample);
    options.insert(options.end(), rest.begin(), rest.end());
    return run(options, stdin_text);
  }
};

const char* const kSortSig =
    "int32_t sort_i32([in, out, size_is(n)] int32_t* v, int32_t n, "
    "int32_t (*cmp)(const int32_t* a, const int32_t* b))";
const char* const kEnumSig =
    "typedef BOOL (CALLBACK *ENUMPROC)(int32_t index, void* ctx); "
    "int32_t WINAPI enum_items(int32_t count, ENUMPROC proc, void* ctx)";
const char* const kStatSig =
    "double stat_with(const char* label, [in, size_is(n)] const double* v, int32_t n, "
    "double (*f)(const char* label, [size_is(n)] const double* v, int32_t n))";
const char* const kSetHandlerSig =
    "void set_event_handler([persistent] void (*f)(int32_t source, int32_t seq, void* ctx), void* ctx)";

// A stub's JSON argument.
std::string stub(const std::string& returns) { return R"({"callback": {"returns": )" + returns + "}}"; }

// The in-process sort of `v` by the 64-bit sample library with a comparator
// that answers `answer` every time: the sorted values, the return value and
// the recorded invocations as dllbridge-call should print them.
struct SortReference {
  json v = json::array();
  json ret;
  json callbacks = json::array();
};
SortReference sort_in_process(std::vector<int32_t> v, int32_t answer) {
  static int32_t fixed = 0;
  static std::vector<std::pair<int32_t, int32_t>>* seen = nullptr;
  std::vector<std::pair<int32_t, int32_t>> pairs;
  fixed = answer;
  seen = &pairs;
  SortReference r;
  r.ret = sort_i32(v.data(), int32_t(v.size()), [](const int32_t* a, const int32_t* b) -> int32_t {
    seen->emplace_back(*a, *b);
    return fixed;
  });
  seen = nullptr;
  for (int32_t x : v) r.v.push_back(x);
  for (const auto& [a, b] : pairs) r.callbacks.push_back({{"param", "cmp"}, {"args", {{"a", a}, {"b", b}}}});
  return r;
}

}  // namespace

TEST_P(CliCallbacks, ASortStubAnswersEveryComparisonAndRecordsItsPairs) {
  const std::vector<int32_t> input{5, 3, 9, 1, 4};
  for (const int32_t answer : {1, -1, 0}) {
    SCOPED_TRACE("returns " + std::to_string(answer));
    os::Output r = call({"--json"}, {kSortSig, "[5, 3, 9, 1, 4]", "5", stub(std::to_string(answer))});
    ASSERT_EQ(r.status, 0) << r.out;
    const json j = json::parse(r.out);
    const SortReference expected = sort_in_process(input, answer);
    ASSERT_FALSE(expected.callbacks.empty());
    EXPECT_EQ(j["callbacks"], expected.callbacks) << "every comparison, in order, keyed a / b";
    EXPECT_EQ(j["out"]["v"], expected.v);
    EXPECT_EQ(j["return"], expected.ret) << "comparisons the library made";
    EXPECT_EQ(j["return"], j["callbacks"].size());
  }
  // Spelled out once: "always greater" moves each element to the front.
  const SortReference greater = sort_in_process({3, 1, 2}, 1);
  EXPECT_EQ(greater.v, json::parse("[2, 1, 3]"));
  EXPECT_EQ(greater.callbacks, json::parse(R"([{"param": "cmp", "args": {"a": 3, "b": 1}},
                                               {"param": "cmp", "args": {"a": 3, "b": 2}},
                                               {"param": "cmp", "args": {"a": 1, "b": 2}}])"));
}

TEST_P(CliCallbacks, AnEnumeratorStubThatSaysStopIsCalledOnceAndItsContextIsANumber) {
  os::Output r = call({"--json"}, {kEnumSig, "10", stub("0"), "24301"});
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 1) << "stopped after the first item";
  EXPECT_EQ(j["callbacks"], json::parse(R"([{"param": "proc", "args": {"index": 0, "ctx": 24301}}])"));
  // A BOOL callback takes true / false too; going on to the end: every index, in order.
  r = call({"--json"}, {kEnumSig, "3", stub("true"), "7"});
  ASSERT_EQ(r.status, 0) << r.out;
  j = json::parse(r.out);
  EXPECT_EQ(j["return"], 3);
  ASSERT_EQ(j["callbacks"].size(), 3u) << r.out;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(j["callbacks"][i]["args"]["index"], i);
}

TEST_P(CliCallbacks, AStubRecordsTextAndADoubleArray) {
  os::Output r = call({"--json"}, {kStatSig, "volts", "[1.5, 2.5, -4.0]", "3", stub("2.25")});
  ASSERT_EQ(r.status, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 4.5) << "the library doubles what the stub answered";
  EXPECT_EQ(j["callbacks"],
            json::parse(R"([{"param": "f", "args": {"label": "volts", "v": [1.5, 2.5, -4.0], "n": 3}}])"));
}

TEST_P(CliCallbacks, TextOutputHasACallbacksLine) {
  os::Output r = call({}, {kEnumSig, "2", stub("1"), "3"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(R"(callbacks: [{"args":{"ctx":3,"index":0},"param":"proc"},)"
                       R"({"args":{"ctx":3,"index":1},"param":"proc"}])"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("return: 2"), std::string::npos) << r.out;
}

TEST_P(CliCallbacks, RepeatReportsTheLastCallsInvocations) {
  os::Output r = call({"--json", "--repeat", "3"}, {kEnumSig, "2", stub("1"), "5"});
  ASSERT_EQ(r.status, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["calls"], 3);
  EXPECT_EQ(j["callbacks"], json::parse(R"([{"param": "proc", "args": {"index": 0, "ctx": 5}},
                                            {"param": "proc", "args": {"index": 1, "ctx": 5}}])"));
}

TEST_P(CliCallbacks, ABatchLineListsItsOwnInvocationsAndOtherLinesHaveNoCallbacksKey) {
  const std::string input =
      json{{"signature", kSortSig}, {"args", {{2, 1}, 2, json::parse(stub("1"))}}}.dump() + "\n" +
      json{{"signature", "int add(int a, int b)"}, {"args", {2, 3}}}.dump() + "\n" +
      json{{"signature", kEnumSig}, {"args", {5, json::parse(stub("0")), 9}}}.dump() + "\n";
  os::Output r = call({"--batch"}, {}, input);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<json> lines = answers(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0]["out"]["v"], json::parse("[1, 2]"));
  EXPECT_EQ(lines[0]["callbacks"], json::parse(R"([{"param": "cmp", "args": {"a": 2, "b": 1}}])"));
  EXPECT_EQ(lines[1]["return"], 5);
  json plain = lines[1];
  for (const char* k : {"return", "out", "last_error", "elapsed_us", "dll_us"}) plain.erase(k);
  EXPECT_TRUE(plain.empty()) << "a call without a stub answers as before: " << lines[1].dump();
  EXPECT_EQ(lines[2]["return"], 1);
  EXPECT_EQ(lines[2]["callbacks"], json::parse(R"([{"param": "proc", "args": {"index": 0, "ctx": 9}}])"));
}

TEST_P(CliCallbacks, APersistentStubAnswersForTheSessionOnTheLinesItsInvocationsArriveIn) {
  Conversation c({"--arch", GetParam().pointer_size == 4 ? "32" : "64", "--batch", GetParam().sample});
  const json set = c.ask({{"signature", kSetHandlerSig}, {"args", {json::parse(R"({"callback": {}})"), 77}}});
  EXPECT_TRUE(set["return"].is_null()) << set.dump();
  EXPECT_EQ(set["callbacks"], json::array()) << "a stub, not called yet: " << set.dump();
  const char* const fire_sig = "int32_t event_fire(int32_t seq)";
  for (const int seq : {5, 6}) {
    const json fired = c.ask({{"signature", fire_sig}, {"args", {seq}}});
    EXPECT_EQ(fired["return"], 1) << "the handler is still set after its line: " << fired.dump();
    EXPECT_EQ(fired["callbacks"],
              json({{{"param", "f"}, {"args", {{"source", -1}, {"seq", seq}, {"ctx", 77}}}}}))
        << "recorded on the line of the call during which it came";
  }
  // From the library's own threads: every event, in order per thread, on the
  // line of events_start or of events_wait (which returns once all were answered).
  const json started =
      c.ask({{"signature", "int32_t events_start(int32_t threads, int32_t n)"}, {"args", {3, 4}}});
  ASSERT_EQ(started["return"], 0) << started.dump();
  const json waited = c.ask({{"signature", "int32_t events_wait(void)"}});
  EXPECT_EQ(waited["return"], 12) << waited.dump();
  std::vector<std::vector<int>> by_source(3);
  for (const json* line : {&started, &waited}) {
    for (const json& inv : line->value("callbacks", json::array())) {
      EXPECT_EQ(inv["param"], "f");
      EXPECT_EQ(inv["args"]["ctx"], 77);
      by_source.at(inv["args"]["source"].get<std::size_t>()).push_back(inv["args"]["seq"]);
    }
  }
  for (const auto& seqs : by_source) EXPECT_EQ(seqs, (std::vector<int>{0, 1, 2, 3}));
  // Cleared: the next lines answer as without stubs.
  const json cleared = c.ask({{"signature", kSetHandlerSig}, {"args", {nullptr, 0}}});
  EXPECT_FALSE(cleared.contains("callbacks")) << cleared.dump();
  const json quiet = c.ask({{"signature", fire_sig}, {"args", {7}}});
  EXPECT_EQ(quiet["return"], 0) << quiet.dump();
  EXPECT_FALSE(quiet.contains("callbacks")) << quiet.dump();
}

TEST_P(CliCallbacks, WrongStubsAndWrongFunctionPointerArgumentsAreBadArgumentsNamingTheParameter) {
  struct Case {
    std::vector<std::string> rest;
    const char* param;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{"int add(int a, int b)", "1", stub("2")}, "'b'", "only to a function pointer"},
      {{kSortSig, "[2, 1]", "2", R"({"callback": {}})"}, "'cmp'", "returns a value"},
      {{kSortSig, "[2, 1]", "2", "less"}, "'cmp'", "null or a recording stub"},
      {{kSortSig, "[2, 1]", "2", "7"}, "'cmp'", "null or a recording stub"},
      {{kSortSig, "[2, 1]", "2", stub("\"x\"")}, "'cmp'", "returns an integer"},
      {{kSortSig, "[2, 1]", "2", R"({"callback": {"returns": 1, "every": 2}})"}, "'cmp'", "\"every\""},
      {{kSetHandlerSig, stub("1"), "0"}, "'f'", "returns void"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.rest.back());
    os::Output r = call({"--json"}, k.rest);
    EXPECT_EQ(r.status, 1) << r.out;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["error"]["kind"], "bad_argument") << r.out;
    const std::string message = j["error"]["message"];
    EXPECT_NE(message.find(k.param), std::string::npos) << message;
    EXPECT_NE(message.find(k.says), std::string::npos) << message;
    EXPECT_FALSE(j.contains("callbacks")) << "nothing was called: " << r.out;
  }
  // null stays a null function pointer (the library says -1 for one).
  os::Output r = call({"--json"}, {kSortSig, "[2, 1]", "2", "null"});
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"], -1);
  EXPECT_FALSE(json::parse(r.out).contains("callbacks")) << r.out;
}

TEST_P(CliCallbacks, AFunctionPointerFieldTakesAStubNamedByItsPath) {
  // The library reads the fields before `cb` only: the stub goes through and is never called.
  const std::string sig =
      "struct P { int x; int y; }; struct Q { uint8_t tag; int n; [size_is(n)] struct P* pts; int (*cb)(int "
      "x); };"
      "int poly_sum([in] const struct Q* p)";
  os::Output r =
      call({"--json"},
           {sig, R"({"tag": 1, "n": 1, "pts": [{"x": 2, "y": 3}], "cb": {"callback": {"returns": 1}}})"});
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 6);
  EXPECT_EQ(j["callbacks"], json::array()) << "a stub among the arguments, not called";
  r = call({"--json"}, {sig, R"({"tag": 1, "n": 1, "pts": [{"x": 2, "y": 3}], "cb": "x"})"});
  EXPECT_EQ(r.status, 1) << r.out;
  j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "bad_argument");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("'p.cb'"), std::string::npos) << r.out;
}

TEST_P(CliCallbacks, AReturnValueOutOfRangeFailsTheCallWhenTheStubAnswers) {
  os::Output r = call({"--json"}, {kSortSig, "[2, 1]", "2", stub("4294967296")});
  EXPECT_EQ(r.status, 1) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "callback_failed") << r.out;
  EXPECT_NE(j["error"]["message"].get<std::string>().find("cmp"), std::string::npos) << r.out;
  EXPECT_EQ(j["callbacks"], json::parse(R"([{"param": "cmp", "args": {"a": 2, "b": 1}}])"))
      << "the invocation that failed is recorded: " << r.out;
}

INSTANTIATE_TEST_SUITE_P(Surrogates, CliCallbacks, ::testing::ValuesIn(dllbridge::test::kTargets),
                         [](const auto& info) { return std::string(info.param.name); });
