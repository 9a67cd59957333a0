// Package dllbridge calls functions of 32-bit DLLs (Windows) and shared
// libraries (Linux) from a 64-bit Go program, through dllbridge's C API.
//
// A 64-bit process cannot load a 32-bit library. Open starts surrogate32, a
// small 32-bit host process; Load loads the library in it; Declare takes
// the function's C declaration in dllbridge's signature language
// (docs/signature-language.md); Call sends the Go arguments over a private
// channel and returns the result:
//
//	b, err := dllbridge.Open(nil)
//	if err != nil { ... }
//	defer b.Close()
//	lib, err := b.Load("/opt/vendor/libmeter.so")
//	add, err := lib.Declare("int32_t add(int32_t a, int32_t b)")
//	r, err := add.Call(ctx, 2, 40) // r.Return == int64(42)
//
// Arguments are Go values: integers, floats, bools, strings (text), byte
// and numeric slices (buffers and arrays), map[string]any (structs), nil (a
// null pointer or handle). Results come back as int64, float64, string,
// bool, []any and map[string]any, with the [out] parameters in Result.Out
// and errno / GetLastError() in Result.LastError. A call whose arguments
// and return are all scalars takes the C API's fast path (no JSON).
//
// Failures are *Error values; errors.Is matches them against ErrTimeout,
// ErrCrashed, ErrCircuitOpen, ErrBadArgument, ... (docs/errors.md). The
// bridge supervises the surrogate: a crash or a hang costs one call, and the
// next call runs in a new surrogate. A context's deadline is the call's
// deadline; a call past it fails with an error matching both ErrTimeout and
// context.DeadlineExceeded.
//
// The package is built with cgo against the installed C library, found by
// pkg-config (dllbridge.pc): set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig
// after `cmake --install build --prefix PREFIX`. See go/README.md.
package dllbridge
