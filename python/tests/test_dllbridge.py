import array
import fractions
import os
import subprocess
import sys
import threading
import time

import pytest

import dllbridge

STRUCTS = ("struct sample_point { int32_t x; int32_t y; };"
           "struct sample_rect { struct sample_point tl; struct sample_point br; };")


def test_scalars(lib):
    add = lib.declare("int32_t add(int32_t a, int32_t b)")
    assert add(2, 40).value == 42
    assert add._scalar is True, "add should take the scalar fast path"
    assert lib.declare("int64_t mul_i64(int64_t a, int64_t b)")(-3_000_000_000, 7).value == -21_000_000_000
    assert lib.declare("uint64_t add_u64(uint64_t a, uint64_t b)")(1 << 63, 5).value == (1 << 63) + 5
    assert lib.declare("double mix_d(int32_t a, double b, float c, int64_t d)")(1, 2.5, 0.25, 4).value == 1 + 2.5 * 2 + 0.25 * 4 + 4 * 8
    assert lib.declare("int8_t neg_i8(int8_t v)")(-127).value == 127
    assert lib.declare("bool is_even(int32_t v)")(4).value is True
    with pytest.raises(dllbridge.BadArgument, match="range"):
        lib.declare("int8_t neg_i8(int8_t v)")(200)


def test_text(lib):
    assert lib.declare("size_t str_len(const char* s)")("h\u00e9llo").value == 6
    assert lib.declare("const char* greeting(void)")().value
    r = lib.declare("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)")("legacy api", 32)
    assert (r.value, r.out) == (10, {"out": "LEGACY API"})
    r = lib.declare("int reverse_str([in, out, string, size_is(cap)] char* buf, int cap)")("abc", 8)
    assert r.out["buf"] == "cba"


def test_buffers(lib):
    sum_i32 = lib.declare("int sum_i32([in, size_is(n)] const int32_t* v, int n)")
    assert sum_i32([5, -7, 100], 3).value == 98
    assert sum_i32(None, 0).value == -1  # None is a null pointer
    assert sum_i32(array.array("i", [1, 2, 3]), 3).value == 6
    assert lib.declare("double sum_f64([in, size_is(n)] const double* v, uint32_t n)")(
        (0.5, fractions.Fraction(5, 4)), 2).value == 1.75
    r = lib.declare("void xor_u8([in, out, size_is(n)] uint8_t* v, int32_t n, uint8_t k)")(b"\x00\x0f\xff", 3, 0x5A)
    assert r.value is None
    assert bytes(r.out["v"]) == b"\x5a\x55\xa5"
    r = lib.declare("void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)")(3, 7)
    assert r.out["out"] == [7, 10, 13]  # start + 3i
    with pytest.raises(dllbridge.BadArgument):
        sum_i32([1, 2], 3)  # a list that disagrees with its count


def test_structs(lib):
    assert lib.declare(STRUCTS + "int point_sum(struct sample_point p)")({"x": 40, "y": 2}).value == 42
    assert lib.declare(STRUCTS + "struct sample_point point_make(int x, int y)")(-3, 9).value == {"x": -3, "y": 9}
    r = lib.declare(STRUCTS + "void rect_grow([in, out] struct sample_rect* r, int by)")(
        {"tl": {"x": 1, "y": 2}, "br": {"x": 5, "y": 10}}, 3)
    assert r.out["r"] == {"tl": {"x": -2, "y": -1}, "br": {"x": 8, "y": 13}}
    with pytest.raises(dllbridge.BadArgument):
        lib.declare(STRUCTS + "int point_sum(struct sample_point p)")({"x": 1})


def test_handle_across_calls(lib):
    r = lib.declare("int obj_create(int initial, [out] void** h)")(10)
    h = r.out["h"]
    assert r.value == 0 and h
    obj_add = lib.declare("int obj_add(void* h, int v)")
    assert obj_add(h, 5).value == 15
    assert obj_add._scalar is True
    assert lib.declare("int obj_get(void* h)")(h).value == 15
    lib.declare("void obj_destroy(void* h)")(h)


def test_last_error(lib):
    set_errno = lib.declare("int set_errno(int value)")
    r = set_errno(42)
    assert (r.value, r.last_error) == (-1, 42)
    text = set_errno.call_json("[7]")
    assert '"last_error":7' in text and '"return":-1' in text


def test_crash_then_working_call(bridge, lib):
    with pytest.raises(dllbridge.Crashed) as e:
        lib.declare("int crash_segv(void)")()
    assert e.value.kind == "crashed" and e.value.message
    assert lib.declare("int add(int a, int b)")(1, 2).value == 3
    st = bridge.stats()
    assert st.restarts >= 1 and st.bits == 32 and st.pid > 0 and st.calls_ok >= 1


def test_timeout(lib):
    with pytest.raises(dllbridge.Timeout) as e:
        lib.declare("int hang_forever(void)")(timeout=0.3)
    assert isinstance(e.value, TimeoutError)
    assert lib.declare("int add(int a, int b)")(20, 22).value == 42


def test_threads(lib):
    add = lib.declare("int add(int a, int b)")
    upper = lib.declare("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)")
    failures = []

    def work(w):
        for i in range(40):
            if add(w, i).value != w + i:
                failures.append(f"thread {w}: add({w}, {i})")
            if upper(f"t{w}-{i}", 16).out["out"] != f"T{w}-{i}":
                failures.append(f"thread {w}: copy_upper")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_errors(sample):
    b = dllbridge.Bridge(call_timeout=5, surrogate_log_level="error")
    lib = b.load(sample)
    with pytest.raises(dllbridge.BadSignature):
        lib.declare("int add(int a,")
    with pytest.raises(dllbridge.SymbolNotFound):
        lib.declare("int no_such_function(void)")
    with pytest.raises(dllbridge.LibraryLoadFailed):
        b.load(sample + ".missing")
    add = lib.declare("int add(int a, int b)")
    with pytest.raises(dllbridge.BadArgument):
        add(object(), 1)
    with pytest.raises(dllbridge.BadArgument):
        add("two", 1)
    with pytest.raises(dllbridge.BadArgument):
        add(1)
    assert '"kind":"bad_argument"' in add.call_json('["x", 1]')  # an answer, not an exception
    with pytest.raises(dllbridge.BadArgument):
        dllbridge.Bridge(arch=16)
    with pytest.raises(dllbridge.BadArgument, match="unknown option"):
        dllbridge.Bridge(speed=3)
    b.close()
    b.close()
    with pytest.raises(dllbridge.Closed):
        add(1, 2)
    with pytest.raises(dllbridge.Closed):
        b.stats()


def test_library_from_env_var_first(sample, tmp_path):
    """DLLBRIDGE_LIBRARY wins over pkg-config: a wrong one is named in the error."""
    env = dict(os.environ, DLLBRIDGE_LIBRARY=str(tmp_path / "libnothing.so"))
    code = "import dllbridge\ntry:\n  dllbridge.Bridge()\nexcept dllbridge.Internal as e:\n  print(e)\n"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert "libnothing.so" in out.stdout, out.stdout + out.stderr


def test_close_waits_for_calls(bridge, lib):
    sleep = lib.declare("int sleep_ms(int ms)")
    results = []
    t = threading.Thread(target=lambda: results.append(sleep(300).value))
    t.start()
    # Close once the call is in the surrogate (the bridge counts it).
    deadline = time.monotonic() + 10
    while bridge.stats().in_flight == 0:
        assert time.monotonic() < deadline, "the call never showed in stats().in_flight"
    bridge.close()
    assert not t.is_alive(), "close returned before the call in progress finished"
    t.join()
    assert results == [300]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")
def test_fork_server_forks_the_surrogates_of_later_bridges(sample):
    def parent_of(pid):
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])

    with dllbridge.Bridge(fork_server=True) as first, dllbridge.Bridge(fork_server=True) as second:
        assert second.load(sample).declare("int add(int a, int b)")(2, 40).value == 42
        server = parent_of(first.stats().pid)
        assert server != os.getpid()
        assert parent_of(second.stats().pid) == server
        assert parent_of(server) == os.getpid()
    with pytest.raises(dllbridge.BadArgument):
        dllbridge.Bridge(fork_server="yes")


def test_pool_size_starts_that_many_surrogates(sample):
    with dllbridge.Bridge(pool_size=2) as b:
        assert b.load(sample).declare("int add(int a, int b)")(2, 40).value == 42
        assert b.stats().starts == 2
    with pytest.raises(dllbridge.BadArgument):
        dllbridge.Bridge(pool_size=0)
