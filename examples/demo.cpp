// The demo: a 64-bit program calls the 32-bit sample library through
// surrogate32 and shows what happened, including the surrogate's figures.
#include <cstdio>
#include <string>

#include "dllbridge/bridge.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: dllbridge-demo PATH-TO-32-BIT-libsample.so\n");
    return 2;
  }
  try {
    std::printf("dllbridge demo: this process is %zu-bit\n", sizeof(void*) * 8);
    dllbridge::Bridge bridge;  // starts surrogate32 next to this program
    const dllbridge::SurrogateInfo& s = bridge.surrogate();
    std::printf("surrogate: pid %u, %u-bit (%s, %s), protocol %u\n", s.pid, s.pointer_size * 8, s.os.c_str(),
                s.arch.c_str(), s.protocol_version);

    dllbridge::Library lib = bridge.load(argv[1]);
    std::printf("loaded %s\n\n", argv[1]);

    auto add = lib.function<int32_t(int32_t, int32_t)>("add");
    std::printf("  add(2, 40)                      = %d   (cdecl, typed API)\n", add(2, 40));
    auto add_std = lib.function<int32_t(int32_t, int32_t)>("add_std", dllbridge::CallConv::Stdcall);
    std::printf("  add_std(-7, 10)                 = %d    (stdcall)\n", add_std(-7, 10));
    auto ptr = lib.function<int32_t()>("pointer_size");
    std::printf("  pointer_size()                  = %d    (sizeof(void*) inside the library)\n", ptr());

    dllbridge::Function mul = lib.function("long long mul_i64(long long a, long long b)");
    auto r = mul.call({std::int64_t{123456789}, std::int64_t{1000}});
    std::printf("  mul_i64(123456789, 1000)        = %lld (dynamic API)\n",
                static_cast<long long>(std::get<std::int64_t>(r.ret)));
    dllbridge::Function mix = lib.function("double mix_d(int a, double b, float c, int64_t d)");
    std::printf("  mix_d(1, 0.25, 0.5, -2)         = %g\n",
                std::get<double>(mix.call({std::int64_t{1}, 0.25, 0.5, std::int64_t{-2}}).ret));
    dllbridge::Function hash = lib.function("DWORD __stdcall hash_str_std(const char* s)");
    std::printf(
        "  hash_str_std(\"dllbridge\")       = 0x%08llx\n",
        static_cast<unsigned long long>(std::get<std::uint64_t>(hash.call({std::string("dllbridge")}).ret)));
    // Buffers, [out] parameters, structs laid out for the 32-bit ABI, handles.
    dllbridge::Function sum = lib.function("int sum_i32([in, size_is(n)] const int32_t* v, int n)");
    std::printf(
        "  sum_i32([5, -7, 100], 3)        = %lld\n",
        static_cast<long long>(std::get<std::int64_t>(
            sum.call({dllbridge::List{std::int64_t{5}, std::int64_t{-7}, std::int64_t{100}}, std::int64_t{3}})
                .ret)));
    dllbridge::Function upper =
        lib.function("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)");
    std::printf(
        "  copy_upper(\"legacy\") -> out     = \"%s\"\n",
        std::get<std::string>(upper.call({std::string("legacy"), std::int64_t{16}}).out.at("out")).c_str());
    dllbridge::Function offset = lib.function("int mixed_offset_d(void)");
    std::printf("  offsetof(struct sample_mixed, d) = %lld   (the DLL's own layout)\n",
                static_cast<long long>(std::get<std::int64_t>(offset.call({}).ret)));
    dllbridge::Function make = lib.function(
        "struct sample_mixed { char c; double d; int16_t s; int64_t q; };"
        "struct sample_mixed mixed_make(char c, double d, int16_t s, int64_t q)");
    const dllbridge::Value m =
        make.call({std::int64_t{'A'}, 2.5, std::int64_t{-3}, std::int64_t{1} << 40}).ret;
    std::printf("  mixed_make('A', 2.5, -3, 2^40)  = {c: %lld, d: %g, s: %lld, q: %lld}\n",
                static_cast<long long>(std::get<std::int64_t>(std::get<dllbridge::Object>(m).at("c"))),
                std::get<double>(std::get<dllbridge::Object>(m).at("d")),
                static_cast<long long>(std::get<std::int64_t>(std::get<dllbridge::Object>(m).at("s"))),
                static_cast<long long>(std::get<std::int64_t>(std::get<dllbridge::Object>(m).at("q"))));
    auto create = lib.function<int32_t(int32_t, dllbridge::Out<dllbridge::Handle>)>("obj_create");
    auto obj_add = lib.function<int32_t(dllbridge::Handle, int32_t)>("obj_add");
    dllbridge::Handle h;
    create(10, dllbridge::out(h));
    std::printf("  obj_create(10, &h); obj_add(h, 5) = %d  (h = 0x%llx, a 32-bit pointer)\n", obj_add(h, 5),
                static_cast<unsigned long long>(h.value));
    lib.function<void(dllbridge::Handle)>("obj_destroy")(h);

    dllbridge::Function err = lib.function("int set_errno(int v)");
    std::printf("  set_errno(42) -> last_error     = %lld\n",
                static_cast<long long>(err.call({std::int64_t{42}}).last_error));
    try {
      lib.function("int not_exported(int)");
    } catch (const dllbridge::Error& e) {
      std::printf("  not_exported(...)               -> error %s: %s\n",
                  std::string(dllbridge::to_string(e.kind())).c_str(), e.what());
    }

    // A crash inside the DLL costs the call, not the program: the next call
    // runs in a fresh surrogate, with the library loaded again.
    const std::uint32_t before = bridge.surrogate().pid;
    try {
      lib.function("int crash_segv(void)").call({});
    } catch (const dllbridge::Error& e) {
      std::printf("  crash_segv()                    -> error %s: %s\n",
                  std::string(dllbridge::to_string(e.kind())).c_str(), e.what());
    }
    std::printf("  add(1, 1) after the crash       = %d   (new surrogate pid %u, was %u)\n", add(1, 1),
                bridge.surrogate().pid, before);

    const dllbridge::BridgeStats st = bridge.stats();
    std::printf(
        "\nbridge: state %s, restarts %llu, calls ok %llu / failed %llu, latency p50 %lld us, "
        "p99 %lld us, breaker %s\n",
        std::string(dllbridge::to_string(st.state)).c_str(), static_cast<unsigned long long>(st.restarts),
        static_cast<unsigned long long>(st.calls_ok), static_cast<unsigned long long>(st.calls_failed),
        static_cast<long long>(st.latency_p50.count()), static_cast<long long>(st.latency_p99.count()),
        std::string(dllbridge::to_string(st.breaker)).c_str());

    const dllbridge::ProcessFigures f = bridge.figures();
    std::printf("\nsurrogate process figures (pid %u):\n", f.pid);
    std::printf("  CPU time     user %.3f ms, kernel %.3f ms\n", f.cpu_user.count() / 1000.0,
                f.cpu_kernel.count() / 1000.0);
    std::printf("  memory       resident %.1f MiB (peak %.1f MiB), virtual %.1f MiB\n",
                f.resident_bytes / 1048576.0, f.peak_resident_bytes / 1048576.0, f.virtual_bytes / 1048576.0);
    std::printf("  threads %u, open handles %u\n", f.threads, f.handles);
  } catch (const dllbridge::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", std::string(dllbridge::to_string(e.kind())).c_str(), e.what());
    return 1;
  }
  return 0;
}
