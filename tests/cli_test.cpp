// dllbridge-call as a user runs it: a real process, its output parsed as JSON.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.hpp"

using json = nlohmann::json;
namespace paths = dllbridge::test;

namespace {

struct Proc {
  int status;
  std::string out;
};

Proc run(const std::string& args, const std::string& stdin_text = "") {
  std::string cmd = std::string(paths::kDllbridgeCall) + " " + args + " 2>/dev/null";
  std::string input_file;
  if (!stdin_text.empty()) {
    input_file = "/tmp/dllbridge-cli-" + std::to_string(::getpid()) + ".in";
    std::ofstream(input_file) << stdin_text;
    cmd += " < " + input_file;
  }
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  if (!input_file.empty()) std::remove(input_file.c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string q(const std::string& s) { return "'" + s + "'"; }

}  // namespace

TEST(Cli, CallsThe32BitLibraryAndPrintsJson) {
  Proc r = run("--json " + q(paths::kSample32) + " " + q("int __stdcall add_std(int a, int b)") + " 2 40");
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 42);
  EXPECT_EQ(j["last_error"], 0);
  EXPECT_TRUE(j["out"].is_object());
  EXPECT_TRUE(j["elapsed_us"].is_number());
}

TEST(Cli, Arch64AndText) {
  Proc r = run("--json --arch 64 " + q(paths::kSample64) + " " + q("size_t str_len(const char* s)") + " '\"hello\"'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"], 5);
}

TEST(Cli, SixtyFourBitIntegersAreExact) {
  Proc r = run("--json " + q(paths::kSample32) + " " + q("uint64_t add_u64(uint64_t a, uint64_t b)") +
              " 18446744073709551600 15");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["return"].get<std::uint64_t>(), 18446744073709551615u);
}

TEST(Cli, ErrorsAreJsonWithAKindAndANonZeroExit) {
  Proc r = run("--json " + q(paths::kSample32) + " " + q("int missing(int)") + " 1");
  EXPECT_NE(r.status, 0);
  json j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "symbol_not_found");
  r = run("--json /nonexistent.so " + q("int f(void)"));
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "library_load_failed");
  r = run("--json " + q(paths::kSample32) + " " + q("int add(int a, int b)") + " 1 '\"x\"'");
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "bad_argument");
  r = run("--json " + q(paths::kSample32) + " " + q("int add(int a int b)") + " 1 2");
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "bad_signature");
  r = run("--json " + q(paths::kSample32) + " " + q("int crash_segv(void)"));
  j = json::parse(r.out);
  EXPECT_EQ(j["error"]["kind"], "crashed");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("SIGSEGV"), std::string::npos);
  r = run("--json --timeout-ms 300 " + q(paths::kSample32) + " " + q("int sleep_ms(int)") + " 30000");
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "timeout");
}

TEST(Cli, RepeatReportsLatencyPercentiles) {
  Proc r = run("--json --repeat 50 " + q(paths::kSample32) + " " + q("int add(int, int)") + " 1 2");
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 3);
  for (const char* k : {"p50", "p90", "p99", "max"}) ASSERT_TRUE(j["latency_us"][k].is_number()) << k;
  EXPECT_LE(j["latency_us"]["p50"].get<double>(), j["latency_us"]["max"].get<double>());
}

TEST(Cli, StatsShowTheSurrogateAndItsFigures) {
  Proc r = run("--json --stats --repeat 5 " + q(paths::kSample32) + " " + q("int add(int, int)") + " 1 2");
  ASSERT_EQ(r.status, 0) << r.out;
  const json st = json::parse(r.out)["stats"];
  EXPECT_EQ(st["bits"], 32);
  EXPECT_EQ(st["state"], "ready");
  EXPECT_EQ(st["calls_ok"], 5);
  EXPECT_GT(st["pid"].get<int>(), 0);
  EXPECT_GT(st["process"]["resident_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(st["breaker"], "closed");
}

TEST(Cli, BatchAnswersEachLineInOneSession) {
  const std::string input =
      R"J({"signature": "int counter_next(void)", "args": []})J" "\n"
      R"J({"signature": "int counter_next(void)"})J" "\n"
      R"J({"signature": "int add(int a, int b)", "args": [40, 2]})J" "\n"
      "not json\n"
      R"J({"signature": "int sleep_ms(int)", "args": [20000], "timeout_ms": 200})J" "\n";
  Proc r = run("--batch " + q(paths::kSample32), input);
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

TEST(Cli, StandaloneSurrogateHelpAndUsage) {
  const std::string s32 = paths::kSurrogate32;
  const std::string cmd = "(" + s32 + " --help || /usr/bin/qemu-i386-static " + s32 + " --help) 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  EXPECT_NE(out.find("--listen"), std::string::npos) << out;
}

TEST(Cli, OutParametersStructsAndBuffersAsJson) {
  Proc r = run("--json " + q(paths::kSample32) + " " + q("int divmod(int a, int b, [out] int* q, [out] int* r)") +
               " 47 6");
  ASSERT_EQ(r.status, 0) << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["return"], 0);
  EXPECT_EQ(j["out"], json::parse(R"({"q": 7, "r": 5})"));

  const std::string rect = "struct P { int x; int y; }; struct R { struct P tl; struct P br; }; ";
  r = run("--json " + q(paths::kSample32) + " " + q(rect + "void rect_grow([in, out] struct R* r, int by)") + " " +
          q(R"({"tl": {"x": 1, "y": 1}, "br": {"x": 4, "y": 5}})") + " 1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["r"], json::parse(R"({"tl": {"x": 0, "y": 0}, "br": {"x": 5, "y": 6}})"));

  r = run("--json " + q(paths::kSample32) + " " +
          q("void scale_i64([in, out, size_is(n)] int64_t* v, int n, int64_t k)") + " '[1, -2, 4294967296]' 3 -2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["v"], json::parse("[-2, 4, -8589934592]"));

  r = run("--json " + q(paths::kSample32) + " " + q("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)") +
          " '\"h\xc3\xa9llo\"' 16");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["out"], "H\xc3\xa9LLO");  // toupper leaves the UTF-8 bytes alone

  r = run("--json " + q(paths::kSample32) + " " + q("int fmt_print([out, size_is(cap)] char* out, int cap, const char* f, ...)") +
          " 32 '\"%d-%s-%.1f\"' '{\"int\": 7}' '{\"string\": \"x\"}' '{\"double\": 0.5}'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["out"]["out"], "7-x-0.5");

  r = run("--json " + q(paths::kSample32) + " " + q("int sum_i32([in, size_is(n)] const int* v, int n)") + " '[1, 2]' 3");
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
  explicit Conversation(const std::vector<std::string>& args) {
    int in[2], out[2];
    EXPECT_EQ(::pipe(in), 0);
    EXPECT_EQ(::pipe(out), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      std::vector<char*> argv{const_cast<char*>(paths::kDllbridgeCall)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(paths::kDllbridgeCall, argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = ::fdopen(in[1], "w");
    from_ = ::fdopen(out[0], "r");
  }
  ~Conversation() {
    if (to_) std::fclose(to_);
    if (from_) std::fclose(from_);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  json ask(const json& request) {
    std::fprintf(to_, "%s\n", request.dump().c_str());
    std::fflush(to_);
    std::string line;
    for (int c; (c = std::fgetc(from_)) != EOF && c != '\n';) line += static_cast<char>(c);
    return json::parse(line);
  }

 private:
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

}  // namespace

TEST(Cli, BatchHandlesStayValidBetweenLines) {
  Conversation c({"--batch", paths::kSample32});
  const json created = c.ask({{"signature", "int obj_create(int initial, [out] void** h)"}, {"args", {30}}});
  ASSERT_EQ(created["return"], 0) << created.dump();
  const json h = created["out"]["h"];
  ASSERT_TRUE(h.is_number_unsigned()) << created.dump();
  EXPECT_EQ(c.ask({{"signature", "int obj_add(void* h, int v)"}, {"args", {h, 12}}})["return"], 42);
  EXPECT_EQ(c.ask({{"signature", "int obj_get(HANDLE h)"}, {"args", {h}}})["return"], 42);
  EXPECT_TRUE(c.ask({{"signature", "void obj_destroy(void* h)"}, {"args", {h}}})["return"].is_null());
}
