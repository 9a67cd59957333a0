package dllbridge

/*
#cgo pkg-config: dllbridge
#include <stdlib.h>
#include <string.h>
#include <dllbridge/dllbridge.h>

// The C API keeps the last error message per OS thread, and a goroutine may
// move to another thread between two cgo calls: each wrapper reads the
// message on the thread that failed and hands back a malloc'ed copy.
static char* dlb_message(dllbridge_status s) {
  if (s == DLLBRIDGE_OK) return NULL;
  const char* m = dllbridge_last_error_message();
  size_t n = strlen(m);
  char* copy = (char*)malloc(n + 1);
  if (copy != NULL) memcpy(copy, m, n + 1);
  return copy;
}
static dllbridge_status dlb_open(const char* options, dllbridge_bridge** out, char** msg) {
  dllbridge_status s = dllbridge_open(options, out);
  *msg = dlb_message(s);
  return s;
}
static dllbridge_status dlb_load(dllbridge_bridge* b, const char* path, dllbridge_library** out, char** msg) {
  dllbridge_status s = dllbridge_load(b, path, out);
  *msg = dlb_message(s);
  return s;
}
static dllbridge_status dlb_declare(dllbridge_library* lib, const char* sig, const char* options,
                                    dllbridge_function** out, char** msg) {
  dllbridge_status s = dllbridge_declare_ex(lib, sig, options, out);
  *msg = dlb_message(s);
  return s;
}
static dllbridge_status dlb_call_values(dllbridge_function* f, const dllbridge_value* args, size_t n,
                                        int64_t timeout_ms, dllbridge_value* ret, int64_t* last_error,
                                        char** msg) {
  dllbridge_status s = dllbridge_call_values(f, args, n, timeout_ms, ret, last_error);
  *msg = dlb_message(s);
  return s;
}
static dllbridge_status dlb_stats(dllbridge_bridge* b, char** json, char** msg) {
  dllbridge_status s = dllbridge_stats_json(b, json);
  *msg = dlb_message(s);
  return s;
}
static dllbridge_status dlb_restart(dllbridge_bridge* b, char** msg) {
  dllbridge_status s = dllbridge_restart(b);
  *msg = dlb_message(s);
  return s;
}
// cgo cannot reach into a C union: the value's fields by kind.
static void dlb_set_int(dllbridge_value* v, int64_t i) { v->kind = DLLBRIDGE_VALUE_INT; v->as.i = i; }
static void dlb_set_uint(dllbridge_value* v, uint64_t u) { v->kind = DLLBRIDGE_VALUE_UINT; v->as.u = u; }
static void dlb_set_double(dllbridge_value* v, double d) { v->kind = DLLBRIDGE_VALUE_DOUBLE; v->as.d = d; }
static void dlb_set_null(dllbridge_value* v) { v->kind = DLLBRIDGE_VALUE_NULL; v->as.u = 0; }
static int64_t dlb_get_int(const dllbridge_value* v) { return v->as.i; }
static uint64_t dlb_get_uint(const dllbridge_value* v) { return v->as.u; }
static double dlb_get_double(const dllbridge_value* v) { return v->as.d; }
*/
import "C"

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Options configure Open; the zero value (or a nil *Options) starts the
// default: surrogate32, 30 s per call.
type Options struct {
	// Arch is the surrogate's bitness, 32 (default) or 64.
	Arch int
	// CallTimeout is each call's default deadline (0: the bridge's, 30 s).
	CallTimeout time.Duration
	// SurrogatePath is the surrogate program to start (default: found in
	// DLLBRIDGE_SURROGATE_DIR, else beside the C library, else its ../bin).
	SurrogatePath string
	// Connect is the endpoint of a running standalone surrogate to use
	// instead of starting one (a Unix socket path; \\.\pipe\NAME on Windows).
	Connect string
	// TokenFile holds the token a standalone surrogate asks for.
	TokenFile string
	// LowLatency makes the surrogate poll briefly for the next call (Linux).
	LowLatency bool
	// ForkServer has this process's later surrogates forked by a server
	// process, a faster start (Linux; docs/supervision.md, "Fork server").
	ForkServer bool
	// PoolSize runs that many surrogates (1 to 64; 0: one), each call going
	// to a free one: for stateless libraries (docs/supervision.md).
	PoolSize int
	// SurrogateLogLevel is the surrogate's log level ("warn" by default).
	SurrogateLogLevel string
}

func (o *Options) json() (string, error) {
	if o == nil {
		return "", nil
	}
	m := map[string]any{}
	if o.Arch != 0 {
		m["arch"] = o.Arch
	}
	if o.CallTimeout != 0 {
		m["call_timeout_ms"] = millis(o.CallTimeout)
	}
	if o.SurrogatePath != "" {
		m["surrogate_path"] = o.SurrogatePath
	}
	if o.Connect != "" {
		m["connect"] = o.Connect
	}
	if o.TokenFile != "" {
		m["token_file"] = o.TokenFile
	}
	if o.LowLatency {
		m["low_latency"] = true
	}
	if o.ForkServer {
		m["fork_server"] = true
	}
	if o.PoolSize != 0 {
		m["pool_size"] = o.PoolSize
	}
	if o.SurrogateLogLevel != "" {
		m["surrogate_log_level"] = o.SurrogateLogLevel
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// Bridge is a supervised 32-bit (or 64-bit) surrogate process. It is safe
// to use from several goroutines at once; Close waits for the calls in
// progress and ends the surrogate.
type Bridge struct {
	mu     sync.RWMutex // calls hold it shared, Close exclusively
	c      *C.dllbridge_bridge
	closed bool
}

// Library is a library loaded in the surrogate (again in every new one
// after a crash). It lives as long as its Bridge.
type Library struct {
	b *Bridge
	c *C.dllbridge_library
}

// Function is a declared function of a Library, callable from several
// goroutines at once. It lives as long as its Bridge.
type Function struct {
	b         *Bridge
	c         *C.dllbridge_function
	signature string
	// path: pathUnknown until a call tells whether the scalar fast path
	// takes this signature.
	path atomic.Int32
}

const (
	pathUnknown int32 = iota
	pathValues
	pathJSON
)

// FunctionOptions refine Declare.
type FunctionOptions struct {
	// Idempotent lets the bridge send the call again after a crash or a
	// timeout (docs/supervision.md).
	Idempotent bool
	// Timeout is the function's default deadline (0: the bridge's).
	Timeout time.Duration
	// Symbol is the export to look up instead of the declared name: a
	// decorated name ("_add@8") or "#N" for an ordinal.
	Symbol string
}

// Open starts a surrogate (or connects to one, Options.Connect). A nil opts
// means the defaults. Close the Bridge when done.
func Open(opts *Options) (*Bridge, error) {
	text, err := opts.json()
	if err != nil {
		return nil, newError(KindBadArgument, "options: %v", err)
	}
	var copt *C.char
	if text != "" {
		copt = C.CString(text)
		defer C.free(unsafe.Pointer(copt))
	}
	var b *C.dllbridge_bridge
	var msg *C.char
	if s := C.dlb_open(copt, &b, &msg); s != C.DLLBRIDGE_OK {
		return nil, statusError(s, msg)
	}
	return &Bridge{c: b}, nil
}

// Load loads the library at path (UTF-8) in the surrogate.
func (b *Bridge) Load(path string) (*Library, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.mu.RUnlock()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var lib *C.dllbridge_library
	var msg *C.char
	if s := C.dlb_load(b.c, cpath, &lib, &msg); s != C.DLLBRIDGE_OK {
		return nil, statusError(s, msg)
	}
	return &Library{b: b, c: lib}, nil
}

// Declare declares a function by its C declaration in the signature
// language (docs/signature-language.md), e.g.
// "int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)".
func (l *Library) Declare(signature string) (*Function, error) {
	return l.DeclareWith(signature, FunctionOptions{})
}

// DeclareWith is Declare with options.
func (l *Library) DeclareWith(signature string, opts FunctionOptions) (*Function, error) {
	if err := l.b.enter(); err != nil {
		return nil, err
	}
	defer l.b.mu.RUnlock()
	m := map[string]any{}
	if opts.Idempotent {
		m["idempotent"] = true
	}
	if opts.Timeout != 0 {
		m["timeout_ms"] = millis(opts.Timeout)
	}
	if opts.Symbol != "" {
		m["symbol"] = opts.Symbol
	}
	var copt *C.char
	if len(m) > 0 {
		text, _ := json.Marshal(m)
		copt = C.CString(string(text))
		defer C.free(unsafe.Pointer(copt))
	}
	csig := C.CString(signature)
	defer C.free(unsafe.Pointer(csig))
	var f *C.dllbridge_function
	var msg *C.char
	if s := C.dlb_declare(l.c, csig, copt, &f, &msg); s != C.DLLBRIDGE_OK {
		return nil, statusError(s, msg)
	}
	fn := &Function{b: l.b, c: f, signature: signature}
	if boolWord.MatchString(signature) {
		// The scalar path gives a bool back as 0 / 1, the JSON one as a
		// bool: keep results of one type whatever the path.
		fn.path.Store(pathJSON)
	}
	return fn, nil
}

var boolWord = regexp.MustCompile(`\b(bool|_Bool)\b`)

// Signature returns the declaration the function was declared with.
func (f *Function) Signature() string { return f.signature }

// Call calls the function with one Go value per parameter that is not
// [out] (docs/cli.md, section 3, for the forms): integers, floats, bools,
// strings (text), []byte and numeric slices (buffers and arrays),
// map[string]any (structs), nil (a null pointer or handle). ctx's deadline,
// if any, is the call's deadline (else the function's default); a context
// done before the call starts fails it at once. A call in progress is not
// cancelled by ctx: its deadline ends it (the surrogate is then replaced).
//
// All-scalar calls take the C API's scalar fast path (no JSON).
func (f *Function) Call(ctx context.Context, args ...any) (*Result, error) {
	timeout, fromCtx, err := callTimeout(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.b.enter(); err != nil {
		return nil, err
	}
	defer f.b.mu.RUnlock()
	var r *Result
	if f.path.Load() != pathJSON && scalars(args) {
		r, err = f.callValues(args, timeout)
		if err == nil {
			f.path.Store(pathValues)
			return r, nil
		}
		// bad_argument is refused before anything is sent: the JSON path
		// either takes the arguments (a signature with pointers the scalar
		// path refuses) or says precisely what is wrong with them.
		if e, ok := err.(*Error); !ok || e.Kind != KindBadArgument {
			return nil, markDeadline(err, fromCtx)
		}
	}
	r, err = f.callJSON(args, timeout)
	if err != nil {
		return nil, markDeadline(err, fromCtx)
	}
	if f.path.Load() == pathUnknown && scalars(args) {
		f.path.Store(pathJSON)
	}
	return r, nil
}

// CallJSON calls the function with argsJSON, a JSON array of the
// arguments, and returns the C API's result JSON: exactly what
// `dllbridge-call --json` prints. A failed call returns that JSON (with its
// "error" object) and the *Error.
func (f *Function) CallJSON(ctx context.Context, argsJSON string) (string, error) {
	timeout, fromCtx, err := callTimeout(ctx)
	if err != nil {
		return "", err
	}
	if err := f.b.enter(); err != nil {
		return "", err
	}
	defer f.b.mu.RUnlock()
	text, err := f.rawJSON(argsJSON, timeout)
	return text, markDeadline(err, fromCtx)
}

func (f *Function) callJSON(args []any, timeout int64) (*Result, error) {
	argsJSON, err := toJSON(args)
	if err != nil {
		return nil, err
	}
	text, err := f.rawJSON(argsJSON, timeout)
	if text == "" {
		return nil, err
	}
	return parseAnswer(text)
}

func (f *Function) rawJSON(argsJSON string, timeout int64) (string, error) {
	cargs := C.CString(argsJSON)
	defer C.free(unsafe.Pointer(cargs))
	var out *C.char
	s := C.dllbridge_call_json_timeout(f.c, cargs, C.int64_t(timeout), &out)
	if out == nil {
		return "", newError(statusKind(s), "the C API gave no result (status %d)", int(s))
	}
	text := C.GoString(out)
	C.dllbridge_free(out)
	if s != C.DLLBRIDGE_OK {
		if _, err := parseAnswer(text); err != nil {
			return text, err
		}
		return text, newError(statusKind(s), "%s", text)
	}
	return text, nil
}

func (f *Function) callValues(args []any, timeout int64) (*Result, error) {
	// Go memory without Go pointers in it may be passed to C; one element
	// at least, so that &cargs[0] exists for no arguments.
	var small [4]C.dllbridge_value
	cargs := small[:]
	if len(args) > len(small) {
		cargs = make([]C.dllbridge_value, len(args))
	}
	for i, a := range args {
		setValue(&cargs[i], a)
	}
	var ret C.dllbridge_value
	var lastError C.int64_t
	var msg *C.char
	start := time.Now()
	s := C.dlb_call_values(f.c, &cargs[0], C.size_t(len(args)), C.int64_t(timeout), &ret, &lastError, &msg)
	elapsed := time.Since(start)
	if s != C.DLLBRIDGE_OK {
		return nil, statusError(s, msg)
	}
	r := &Result{Out: map[string]any{}, LastError: int64(lastError), Elapsed: elapsed}
	switch ret.kind {
	case C.DLLBRIDGE_VALUE_INT:
		r.Return = int64(C.dlb_get_int(&ret))
	case C.DLLBRIDGE_VALUE_UINT:
		// As the JSON path decodes it: an int64 unless it does not fit.
		if u := uint64(C.dlb_get_uint(&ret)); u > math.MaxInt64 {
			r.Return = u
		} else {
			r.Return = int64(u)
		}
	case C.DLLBRIDGE_VALUE_DOUBLE:
		r.Return = float64(C.dlb_get_double(&ret))
	}
	return r, nil
}

// scalars reports whether every argument is an integer, a float, a bool or nil.
func scalars(args []any) bool {
	for _, a := range args {
		switch a.(type) {
		case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr,
			float32, float64:
		default:
			return false
		}
	}
	return true
}

func setValue(v *C.dllbridge_value, a any) {
	switch x := a.(type) {
	case nil:
		C.dlb_set_null(v)
	case bool:
		if x {
			C.dlb_set_int(v, 1)
		} else {
			C.dlb_set_int(v, 0)
		}
	case int:
		C.dlb_set_int(v, C.int64_t(x))
	case int8:
		C.dlb_set_int(v, C.int64_t(x))
	case int16:
		C.dlb_set_int(v, C.int64_t(x))
	case int32:
		C.dlb_set_int(v, C.int64_t(x))
	case int64:
		C.dlb_set_int(v, C.int64_t(x))
	case uint:
		C.dlb_set_uint(v, C.uint64_t(x))
	case uint8:
		C.dlb_set_uint(v, C.uint64_t(x))
	case uint16:
		C.dlb_set_uint(v, C.uint64_t(x))
	case uint32:
		C.dlb_set_uint(v, C.uint64_t(x))
	case uint64:
		C.dlb_set_uint(v, C.uint64_t(x))
	case uintptr:
		C.dlb_set_uint(v, C.uint64_t(x))
	case float32:
		C.dlb_set_double(v, C.double(x))
	case float64:
		C.dlb_set_double(v, C.double(x))
	}
}

// Stats are the bridge's statistics (docs/supervision.md; the "stats"
// object of `dllbridge-call --stats --json`).
type Stats struct {
	State         string  `json:"state"`
	PID           int64   `json:"pid"`
	Bits          int     `json:"bits"`
	UptimeMs      float64 `json:"uptime_ms"`
	Starts        int64   `json:"starts"`
	Restarts      int64   `json:"restarts"`
	CallsOK       int64   `json:"calls_ok"`
	CallsFailed   int64   `json:"calls_failed"`
	CallsTimedOut int64   `json:"calls_timed_out"`
	Retries       int64   `json:"retries"`
	InFlight      int64   `json:"in_flight"`
	LatencyUS     struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
	Breaker string `json:"breaker"`
	Reason  string `json:"reason"`
	Process struct {
		CPUUserMs         float64 `json:"cpu_user_ms"`
		CPUKernelMs       float64 `json:"cpu_kernel_ms"`
		ResidentBytes     uint64  `json:"resident_bytes"`
		PeakResidentBytes uint64  `json:"peak_resident_bytes"`
		VirtualBytes      uint64  `json:"virtual_bytes"`
		Threads           int64   `json:"threads"`
		Handles           int64   `json:"handles"`
	} `json:"process"`
}

// Stats returns the bridge's statistics now.
func (b *Bridge) Stats() (*Stats, error) {
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.mu.RUnlock()
	var out, msg *C.char
	if s := C.dlb_stats(b.c, &out, &msg); s != C.DLLBRIDGE_OK {
		return nil, statusError(s, msg)
	}
	text := C.GoString(out)
	C.dllbridge_free(out)
	st := &Stats{}
	if err := json.Unmarshal([]byte(text), st); err != nil {
		return nil, newError(KindInternal, "unreadable stats %q: %v", text, err)
	}
	return st, nil
}

// Restart replaces the surrogate now (also after the bridge stopped
// restarting a crash-looping one).
func (b *Bridge) Restart() error {
	if err := b.enter(); err != nil {
		return err
	}
	defer b.mu.RUnlock()
	var msg *C.char
	if s := C.dlb_restart(b.c, &msg); s != C.DLLBRIDGE_OK {
		return statusError(s, msg)
	}
	return nil
}

// Close waits for the calls in progress, stops the surrogate and frees the
// bridge with its libraries and functions; later operations fail with
// ErrClosed. Closing twice is harmless.
func (b *Bridge) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		C.dllbridge_close(b.c)
		b.c = nil
	}
	return nil
}

// enter takes the bridge for one operation (release with mu.RUnlock).
func (b *Bridge) enter() error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return newError(KindClosed, "the bridge is closed")
	}
	return nil
}

// The longest deadline the C API takes: 7 days.
const maxTimeout = 7 * 24 * time.Hour

// callTimeout is the call's timeout_ms from ctx's deadline
// (DLLBRIDGE_DEFAULT_TIMEOUT without one) and whether it came from ctx.
func callTimeout(ctx context.Context) (int64, bool, error) {
	if ctx == nil {
		return C.DLLBRIDGE_DEFAULT_TIMEOUT, false, nil
	}
	deadline, ok := ctx.Deadline()
	if err := ctx.Err(); err != nil {
		if ok && err == context.DeadlineExceeded {
			return 0, true, &Error{Kind: KindTimeout, Message: "the context's deadline passed before the call", ctx: err}
		}
		return 0, false, err
	}
	if !ok {
		return C.DLLBRIDGE_DEFAULT_TIMEOUT, false, nil
	}
	left := time.Until(deadline)
	if left > maxTimeout {
		left = maxTimeout
	}
	return millis(left), true, nil
}

// millis rounds d up to whole milliseconds, at least 1.
func millis(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	return ms
}

// markDeadline makes a timeout whose deadline came from the context match
// context.DeadlineExceeded too.
func markDeadline(err error, fromCtx bool) error {
	if e, ok := err.(*Error); ok && fromCtx && e.Kind == KindTimeout {
		e.ctx = context.DeadlineExceeded
	}
	return err
}

// statusError makes the *Error of a failed C call and frees msg.
func statusError(s C.dllbridge_status, msg *C.char) error {
	text := ""
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return &Error{Kind: statusKind(s), Message: text}
}

func statusKind(s C.dllbridge_status) Kind {
	return Kind(C.GoString(C.dllbridge_status_name(s)))
}
