#!/usr/bin/env python3
"""dllbridge-gen's front-end tests: golden files, errors, sample.h.

Usage: gen_test.py GROUP   (GROUP: golden, errors, sample, sample_windows; none: all)
Environment (set by tests/gen/CMakeLists.txt):
  DLLBRIDGE_GEN      the dllbridge-gen program
  DLLBRIDGE_CALL     the dllbridge-call program
  DLLBRIDGE_SAMPLE32 the i386 libsample.so
  GEN_GOLDEN_LIBS    folder with the golden cases' 32-bit libraries
                     (libgolden_CASE.so, golden_annotated.dll)
  GEN_CC32           a C compiler command for i386 shared objects ("gcc -m32")
  SOURCE_DIR         the source tree
Refresh the golden files after an intended change:
  DLLBRIDGE_GEN_UPDATE_GOLDEN=1 ctest --test-dir build -R gen_golden
then review `git diff tests/gen/golden`.
Prints "N passed, N failed"; exits 1 when a check failed or could not run.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ENV = {}
RESULTS = []


def need(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (run through ctest)")
    return value


def gen(*args, cwd=None):
    p = subprocess.run([ENV["gen"], *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def case(fn):
    RESULTS.append(fn)
    return fn


def build_lib(tmp, source, name="libt.so"):
    c = os.path.join(tmp, "lib.c")
    with open(c, "w") as f:
        f.write(source)
    out = os.path.join(tmp, name)
    subprocess.run(shlex.split(ENV["cc32"]) + ["-shared", "-fPIC", "-o", out, c], check=True)
    return out


# ---------------------------------------------------------------- golden

GOLDEN = [
    # (case, header, library file, extra args file, expected folder, name)
    ("sal", "sal.h", "libgolden_sal.so", "args", "expected", "golden_sal"),
    ("annotated", "annotated.h", "libgolden_annotated.so", "args", "expected", "golden_annotated"),
    ("unsupported", "unsupported.h", "libgolden_unsupported.so", "args", "expected", "golden_unsupported"),
    ("annotated", "annotated.h", "golden_annotated.dll", "args", "expected-windows", "golden_annotated"),
    ("winapi", "winapi.h", "golden_winapi.dll", "args", "expected-windows", "golden_winapi"),
]


def golden(case_name, header, lib, args_file, expected, name):
    src = os.path.join(ENV["source"], "tests", "gen", "golden", case_name)
    library = os.path.join(ENV["libs"], lib)
    check(os.path.isfile(library), f"{library} was not built (tests/gen/CMakeLists.txt builds it)")
    with open(os.path.join(src, args_file)) as f:
        extra = [a for a in f.read().split("\n") if a]
    if lib.endswith(".dll"):
        extra += ["--target", "windows"]
    with tempfile.TemporaryDirectory() as out:
        rc, so, se = gen("--header", header, "--library", library, "--out", out, "--print-model", *extra, cwd=src)
        check(rc == 0, f"dllbridge-gen failed ({rc}): {se}")
        exp_dir = os.path.join(src, expected)
        # The model's C side (what the back end spells), without the summary line (it names the temporary folder).
        with open(os.path.join(out, "model.txt"), "w") as f:
            f.write("".join(l for l in so.splitlines(True) if not l.startswith("dllbridge-gen:")))
        for fname in (name + ".sig", "report.txt", "model.txt"):
            got = open(os.path.join(out, fname)).read()
            exp_path = os.path.join(exp_dir, fname)
            if os.environ.get("DLLBRIDGE_GEN_UPDATE_GOLDEN"):
                os.makedirs(exp_dir, exist_ok=True)
                with open(exp_path, "w") as f:
                    f.write(got)
                continue
            check(os.path.isfile(exp_path), f"no golden file {exp_path} (refresh: see gen_test.py)")
            want = open(exp_path).read()
            if got != want:
                import difflib
                diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), exp_path, "generated"))
                raise AssertionError(f"{fname} differs from the golden file:\n{diff}")


for g in GOLDEN:
    def make(g=g):
        def t():
            golden(*g)
        t.__name__ = f"golden_{g[0]}_{'windows' if g[2].endswith('.dll') else 'linux'}"
        t.group = "golden"
        return t
    case(make())


# ---------------------------------------------------------------- errors

def err_case(fn):
    fn.group = "errors"
    return case(fn)


HEADER = "#include <stdint.h>\nint32_t f(int32_t n, char* out);\nint32_t g(int32_t x);\n"
LIB = "#include <stdint.h>\nint32_t f(int32_t n, char* out) { (void)out; return n; }\nint32_t g(int32_t x) { return x; }\n"


def setup_tmp(tmp, header=HEADER, lib=LIB):
    h = os.path.join(tmp, "t.h")
    with open(h, "w") as f:
        f.write(header)
    return h, build_lib(tmp, lib)


@err_case
def unresolved_char_pointer_is_an_error_naming_function_and_parameter():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        rc, so, se = gen("--header", h, "--library", lib, "--out", os.path.join(tmp, "out"))
        check(rc == 1, f"exit status {rc}, expected 1; stderr: {se}")
        check("f, parameter out (t.h:2): char * without a size" in se, f"stderr does not name f / out: {se}")
        check("--skip-unresolved" in se, f"stderr does not say how to go on: {se}")
        check(not os.path.exists(os.path.join(tmp, "out", "report.txt")), "wrote output despite the error")


@err_case
def skip_unresolved_leaves_the_function_out_and_lists_it():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        out = os.path.join(tmp, "out")
        rc, so, se = gen("--header", h, "--library", lib, "--out", out, "--skip-unresolved", "--name", "t")
        check(rc == 0, f"exit status {rc}: {se}")
        report = open(os.path.join(out, "report.txt")).read()
        sig = open(os.path.join(out, "t.sig")).read()
        check("f, parameter out (t.h:2): left out (--skip-unresolved)" in report, report)
        check("int32_t g(int32_t x);" in sig and " f(" not in sig, sig)


@err_case
def annotation_resolves_the_pointer():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        ann = os.path.join(tmp, "t.ann")
        with open(ann, "w") as f:
            f.write("// f fills out with n chars\nint32_t f(int32_t n, [out, size_is(n)] char* out);\n")
        out = os.path.join(tmp, "out")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", out, "--name", "t")
        check(rc == 0, f"exit status {rc}: {se}")
        sig = open(os.path.join(out, "t.sig")).read()
        check("int32_t f(int32_t n, [out, size_is(n)] char* out);" in sig, sig)


@err_case
def missing_header():
    with tempfile.TemporaryDirectory() as tmp:
        _, lib = setup_tmp(tmp)
        rc, so, se = gen("--header", os.path.join(tmp, "nothere.h"), "--library", lib, "--out", tmp)
        check(rc == 1 and "nothere.h: no such file" in se, f"{rc}: {se}")


@err_case
def header_that_does_not_compile():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp, header="int f(unknown_t x);\n")
        rc, so, se = gen("--header", h, "--library", lib, "--out", tmp)
        check(rc == 1 and "do not compile" in se and "t.h:1:" in se and "unknown_t" in se, f"{rc}: {se}")


@err_case
def bad_annotation_syntax():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        ann = os.path.join(tmp, "t.ann")
        with open(ann, "w") as f:
            f.write("\nint32_t g([in, in] int32_t* x);\n")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", tmp)
        check(rc == 1 and "t.ann:2: bad annotation: at position" in se and "repeats a direction" in se, f"{rc}: {se}")


@err_case
def annotation_that_does_not_match_the_header():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        ann = os.path.join(tmp, "t.ann")
        with open(ann, "w") as f:
            f.write("int32_t f(int32_t n);\n")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", tmp)
        check(rc == 1 and "t.ann:1" in se and "annotation declares 1 parameters, the header (t.h:2) 2" in se,
              f"{rc}: {se}")
        with open(ann, "w") as f:
            f.write("int32_t f(int32_t n, [out, size_is(n)] int16_t* out);\n")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", tmp)
        check(rc == 1 and "f, parameter out (" in se and "t.ann:1" in se and "char *" in se and "t.h:2" in se,
              f"{rc}: {se}")


@err_case
def struct_annotation_that_does_not_match_the_header():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp, header="#include <stdint.h>\nstruct s { int32_t n; int32_t* v; };\n"
                                       "int32_t g(const struct s* p);\nint32_t k(struct s* p);\n",
                           lib="#include <stdint.h>\nint32_t g(const void* p) { return p != 0; }\n"
                               "int32_t k(void* p) { return p != 0; }\n")
        ann = os.path.join(tmp, "t.ann")
        with open(ann, "w") as f:
            f.write("struct s { int32_t count; [size_is(count)] int32_t* v; };\n")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", tmp)
        check(rc == 1, f"{rc}: {se}")
        lines = [l for l in se.splitlines() if "struct s" in l]
        check(len(lines) == 1 and "t.ann:1" in lines[0] and "'count'" in lines[0] and "t.h:2" in lines[0] and
              "'n'" in lines[0], f"one line naming both fields expected: {se}")


@err_case
def annotation_types_a_void_pointer_as_a_buffer():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp, header="#include <stddef.h>\nint crc(const void* data, size_t n);\n",
                           lib="#include <stddef.h>\nint crc(const void* data, size_t n) { (void)data; return (int)n; }\n")
        ann = os.path.join(tmp, "t.ann")
        with open(ann, "w") as f:
            f.write("int crc([in, size_is(len)] const uint8_t* bytes, size_t len);\n")
        out = os.path.join(tmp, "out")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", out, "--name", "t")
        check(rc == 0, f"{rc}: {se}")
        sig = open(os.path.join(out, "t.sig")).read()
        check("int crc([in, size_is(n)] const uint8_t* data, size_t n);" in sig, sig)
        # A struct is no refinement of a void*.
        with open(ann, "w") as f:
            f.write("struct s { int a; }; int crc([in] const struct s* data, size_t n);\n")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", out, "--name", "t")
        check(rc == 1 and "is not the header's" in se, f"{rc}: {se}")


@err_case
def annotation_of_an_undeclared_function():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        ann = os.path.join(tmp, "t.ann")
        with open(ann, "w") as f:
            f.write("int32_t nothere(int32_t n);\n")
        rc, so, se = gen("--header", h, "--library", lib, "--annotations", ann, "--out", tmp)
        check(rc == 1 and "t.ann:1: annotation for 'nothere', which the headers do not declare" in se, f"{rc}: {se}")


@err_case
def a_64bit_library_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        h, _ = setup_tmp(tmp)
        c = os.path.join(tmp, "lib64.c")
        with open(c, "w") as f:
            f.write(LIB)
        lib64 = os.path.join(tmp, "lib64.so")
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib64, c], check=True)
        rc, so, se = gen("--header", h, "--library", lib64, "--out", tmp, "--skip-unresolved", "--name", "t")
        check(rc == 1 and "a 64-bit ELF file; --library must be the 32-bit library" in se, f"{rc}: {se}")


@err_case
def malformed_libraries_are_refused_with_the_reason():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp)
        data = open(lib, "rb").read()
        dll = os.path.join(ENV["libs"], "golden_annotated.dll")
        cases = [
            ("text.so", b"not a library at all\n", "neither an ELF shared object nor a PE DLL"),
            ("short.so", data[:200], "truncated"),
            ("empty.so", b"", "neither an ELF shared object nor a PE DLL"),
            # Section headers pointing past the end of the file.
            ("badsh.so", data[:32] + (0x7FFFFFF0).to_bytes(4, "little") + data[36:], "truncated"),
        ]
        if os.path.isfile(dll):
            pe = open(dll, "rb").read()
            cases += [("short.dll", pe[:400], "truncated"),
                      ("nope.dll", b"MZ" + b"\0" * 100, "an MZ file without a PE header")]
        for name, content, want in cases:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(content)
            target = ["--target", "windows"] if name.endswith(".dll") else []
            rc, so, se = gen("--header", h, "--library", path, "--out", os.path.join(tmp, "o"), "--name", "t", *target)
            check(rc == 1 and f"--library {path}: " in se and want in se, f"{name}: {rc}: {se}")


@err_case
def include_dirs_defines_and_field_sal_reach_the_parser():
    with tempfile.TemporaryDirectory() as tmp:
        inc = os.path.join(tmp, "inc")
        os.mkdir(inc)
        with open(os.path.join(inc, "types.h"), "w") as f:
            f.write("#include <stdint.h>\ntypedef int32_t count_t;\n"
                    "struct buf { count_t n; _Field_size_(n) int16_t* data; };\n")
        header = ('#include "types.h"\n#ifndef WITH_G\n#error WITH_G must be defined\n#endif\n'
                  "count_t g(count_t x);\nint32_t k(const struct buf* b);\n")
        h, lib = setup_tmp(tmp, header=header, lib="#include <stdint.h>\nint32_t g(int32_t x) { return x; }\n"
                                                     "int32_t k(const void* b) { return b != 0; }\n")
        out = os.path.join(tmp, "out")
        rc, so, se = gen("--header", h, "-I", inc, "-D", "WITH_G=1", "--library", lib, "--out", out, "--name", "t")
        check(rc == 0, f"{rc}: {se}")
        sig = open(os.path.join(out, "t.sig")).read()
        check("int32_t g(int32_t x);" in sig, sig)
        check("struct buf { int32_t n; [in, out, size_is(n)] int16_t* data; };" in sig, sig)
        rc, so, se = gen("--header", h, "-I", inc, "--library", lib, "--out", out, "--name", "t")
        check(rc == 1 and "WITH_G must be defined" in se, f"{rc}: {se}")


@err_case
def a_typedef_named_like_another_struct_gets_its_own_name():
    with tempfile.TemporaryDirectory() as tmp:
        h, lib = setup_tmp(tmp, header="#include <stdint.h>\nstruct P { int32_t a; };\ntypedef struct { int16_t b; } P;\n"
                                       "int32_t f1(struct P x);\nint32_t f2(P y);\n",
                           lib="#include <stdint.h>\nint32_t f1(int32_t x) { return x; }\n"
                               "int32_t f2(int16_t y) { return y; }\n")
        out = os.path.join(tmp, "out")
        rc, so, se = gen("--header", h, "--library", lib, "--out", out, "--name", "t")
        check(rc == 0, se)
        sig = open(os.path.join(out, "t.sig")).read()
        check("struct P { int32_t a; }; int32_t f1(struct P x);" in sig and
              "struct P_2 { int16_t b; }; int32_t f2(struct P_2 y);" in sig, sig)


@err_case
def not_exported_is_reported_not_generated():
    with tempfile.TemporaryDirectory() as tmp:
        # ext is imported by the library (undefined in its .dynsym), h is not there at all.
        h, lib = setup_tmp(tmp, header="#include <stdint.h>\nint32_t g(int32_t x);\nint32_t h(int32_t x);\n"
                                       "int32_t ext(int32_t x);\n",
                           lib="#include <stdint.h>\nint32_t ext(int32_t x);\nint32_t g(int32_t x) { return ext(x); }\n")
        out = os.path.join(tmp, "out")
        rc, so, se = gen("--header", h, "--library", lib, "--out", out, "--name", "t")
        check(rc == 0, se)
        report = open(os.path.join(out, "report.txt")).read()
        sig = open(os.path.join(out, "t.sig")).read()
        check("h (t.h:3): not exported by libt.so" in report and " h(" not in sig, report + sig)
        check("ext (t.h:4): not exported by libt.so" in report and " ext(" not in sig, report + sig)
        check("int32_t g(int32_t x);" in sig, sig)


@err_case
def usage_errors_exit_2():
    rc, so, se = gen("--header", "x.h")
    check(rc == 2 and "--library" in se, f"{rc}: {se}")


# ---------------------------------------------------------------- sample.h

def sample_case(fn):
    fn.group = "sample"
    return case(fn)


def sample_declared_names():
    text = open(os.path.join(ENV["source"], "sample-dll", "sample.h")).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names = set()
    for decl in re.findall(r"^SAMPLE_API\s+[A-Za-z_][\w\s\*]*?\b(\w+)\s*\(", text, flags=re.M):
        names.add(decl)
    names.add("ordinal_only")  # declared without SAMPLE_API (a .def export on Windows)
    return names


@sample_case
def sample_every_function_generated_or_listed_and_callable():
    with tempfile.TemporaryDirectory() as out:
        src = ENV["source"]
        rc, so, se = gen("--header", os.path.join(src, "sample-dll", "sample.h"), "--library", ENV["sample32"],
                         "--annotations", os.path.join(src, "sample-dll", "sample.annotations"), "--out", out)
        check(rc == 0, f"dllbridge-gen failed ({rc}): {se}")
        sig = open(os.path.join(out, "sample.sig")).read()
        report = open(os.path.join(out, "report.txt")).read()
        lines = {}
        for line in sig.splitlines():
            if line.startswith("//") or not line.strip():
                continue
            m = re.search(r"(\w+)\(", line.rsplit("}; ", 1)[-1])
            if m:
                lines[m.group(1)] = line
        left_out = report.split("== Left out")[1].split("\n== ")[0]
        declared = sample_declared_names()
        check(len(declared) > 90, f"found only {len(declared)} declarations in sample.h")
        missing = [n for n in sorted(declared) if n not in lines and not re.search(rf"^{n}\b", left_out, re.M)]
        check(not missing, f"neither generated nor listed: {missing}")
        check(len(lines) >= 100, f"only {len(lines)} functions generated")
        # The default library needs nothing left out but the variadic three.
        check(sorted(re.findall(r"^(\w+) \(", left_out, re.M)) == ["fmt_print", "sum_doubles", "sum_mixed_va"],
              left_out)
        requests = [
            ("add", [2, 40], lambda r: r["return"] == 42),
            ("copy_upper", ["legacy api", 32], lambda r: r["return"] == 10 and r["out"]["out"] == "LEGACY API"),
            ("divmod", [47, 6], lambda r: r["return"] == 0 and r["out"] == {"q": 7, "r": 5}),
            ("point_make", [3, -4], lambda r: r["return"] == {"x": 3, "y": -4}),
            ("poly_sum", [{"tag": 1, "n": 2, "pts": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}],
             lambda r: r["return"] == 11),
            ("sum_i32", [[1, 2, 3, 4], 4], lambda r: r["return"] == 10),
            ("reverse_str", ["abc", 8], lambda r: r["out"]["buf"] == "cba"),
            ("greeting", [], lambda r: isinstance(r["return"], str) and r["return"]),
            ("add_std", [2, 3], lambda r: r["return"] == 5),
            ("wide_hello", [16], lambda r: r["out"]["out"] == "h\u00e9llo \u20ac"),
            ("named_fill", [1], lambda r: r["out"]["n"]["vals"] == [1, 2, 3]),
            # A [persistent] callback kept by the library, called on a later line.
            ("set_event_handler", [{"callback": {}}, 77], lambda r: r["return"] is None),
            ("event_fire", [5], lambda r: r["return"] == 1 and r["callbacks"] ==
             [{"args": {"ctx": 77, "seq": 5, "source": -1}, "param": "f"}]),
        ]
        batch = "".join(json.dumps({"signature": lines[n], "args": a}) + "\n" for n, a, _ in requests)
        p = subprocess.run([ENV["call"], "--batch", ENV["sample32"]], input=batch, capture_output=True, text=True,
                           timeout=120)
        answers = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        check(len(answers) == len(requests), f"{len(answers)} answers to {len(requests)} requests: {p.stdout}{p.stderr}")
        for (n, a, ok), r in zip(requests, answers):
            check("error" not in r and ok(r), f"{n}{a}: {r} (signature: {lines[n]})")


def sample_windows_case(fn):
    fn.group = "sample_windows"
    return case(fn)


@sample_windows_case
def sample_windows_dll_decorated_names_and_ordinal():
    dll = os.path.join(ENV["libs"], "sample.dll")
    check(os.path.isfile(dll), f"{dll} was not built (needs i686-w64-mingw32-gcc, see tests/gen/CMakeLists.txt)")
    with tempfile.TemporaryDirectory() as out:
        src = ENV["source"]
        rc, so, se = gen("--header", os.path.join(src, "sample-dll", "sample.h"), "--library", dll, "--target",
                         "windows", "--annotations", os.path.join(src, "sample-dll", "sample.annotations"),
                         "--out", out)
        check(rc == 0, f"dllbridge-gen failed ({rc}): {se}")
        sig = open(os.path.join(out, "sample.sig")).read()
        report = open(os.path.join(out, "report.txt")).read()
        for export, decl in [("#100", "int32_t ordinal_only(int32_t v);"),
                             ("add_std@8", "int32_t __stdcall add_std(int32_t a, int32_t b);"),
                             ("@sub_fast@8", "int32_t __fastcall sub_fast(int32_t a, int32_t b);"),
                             ("enum_items@12", "int32_t __stdcall enum_items(")]:
            check(re.search(rf"^// export: {re.escape(export)}\n{re.escape(decl)}", sig, re.M),
                  f"no '// export: {export}' before {decl}:\n{sig}")
        left_out = report.split("== Left out")[1].split("\n== ")[0]
        check(sorted(re.findall(r"^(\w+) \(", left_out, re.M)) == ["fmt_print", "sum_doubles", "sum_mixed_va"],
              left_out)
        # wchar_t is the DLL's 2-byte unit there: still text.
        check("int32_t wide_hello([out, size_is(cap)] wchar_t* out, int32_t cap);" in sig, sig)
        # Without --target the library's format decides; a contradicting --target is refused.
        rc, so, se = gen("--header", os.path.join(src, "sample-dll", "sample.h"), "--library", dll,
                         "--skip-unresolved", "--out", os.path.join(out, "auto"))
        check(rc == 0 and "libsample" not in so, se)
        check(open(os.path.join(out, "auto", "report.txt")).readline().endswith("for sample.dll (windows), from sample.h\n"),
              open(os.path.join(out, "auto", "report.txt")).readline())
        rc, so, se = gen("--header", os.path.join(src, "sample-dll", "sample.h"), "--library", dll, "--target", "linux",
                         "--out", os.path.join(out, "auto"))
        check(rc == 1 and "--target linux needs the 32-bit shared object (ELF), this is a PE DLL" in se, se)
        # An ordinal the DLL does not have: reported, not generated.
        ann = open(os.path.join(src, "sample-dll", "sample.annotations")).read()
        check("symbol ordinal_only = #100;" in ann, "sample.annotations no longer maps ordinal_only to #100")
        bad = os.path.join(out, "bad.annotations")
        with open(bad, "w") as f:
            f.write(ann.replace("#100", "#60000"))
        rc, so, se = gen("--header", os.path.join(src, "sample-dll", "sample.h"), "--library", dll, "--target",
                         "windows", "--annotations", bad, "--out", os.path.join(out, "bad"))
        check(rc == 0, se)
        report = open(os.path.join(out, "bad", "report.txt")).read()
        check(re.search(r"^ordinal_only \(sample.h:\d+\): not exported by sample.dll \(nor as #60000", report, re.M),
              report)


# ---------------------------------------------------------------- runner

def main():
    group = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        ENV["gen"] = need("DLLBRIDGE_GEN")
        ENV["source"] = need("SOURCE_DIR")
        ENV["libs"] = need("GEN_GOLDEN_LIBS")
        ENV["cc32"] = need("GEN_CC32")
        if group in ("", "sample"):
            ENV["call"] = need("DLLBRIDGE_CALL")
            ENV["sample32"] = need("DLLBRIDGE_SAMPLE32")
    except RuntimeError as e:
        print(f"cannot run: {e}")
        print("0 passed, 1 failed")
        return 1
    selected = [t for t in RESULTS if not group or t.group == group]
    if not selected:
        print(f"no tests in group '{group}'")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for t in selected:
        try:
            t()
            print(f"PASS {t.__name__}")
            passed += 1
        except Exception as e:  # a failed check, or a step that could not run
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
