// dllbridge-call as a user runs it: a real process, its output parsed as JSON.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "os.hpp"
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
