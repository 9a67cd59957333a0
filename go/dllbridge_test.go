package dllbridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests call the 32-bit sample library of this repository
// (sample-dll/sample.h) through a real surrogate32: DLLBRIDGE_SAMPLE32 is its
// path (build/i386/lib/libsample.so; under Wine Z:/.../i386/lib/sample.dll).
// tests/lang/go_test.cmake sets it after installing the package.
var sample = os.Getenv("DLLBRIDGE_SAMPLE32")

func TestMain(m *testing.M) {
	if sample == "" {
		fmt.Fprintln(os.Stderr, "DLLBRIDGE_SAMPLE32 is not set: it must name the 32-bit sample library "+
			"(build/i386/lib/libsample.so); ctest's go_package test sets it")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// open starts a bridge on the sample library, closed when the test ends.
func open(t testing.TB, opts *Options) (*Bridge, *Library) {
	t.Helper()
	b, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	lib, err := b.Load(sample)
	if err != nil {
		t.Fatalf("Load(%s): %v", sample, err)
	}
	return b, lib
}

func declare(t testing.TB, lib *Library, sig string) *Function {
	t.Helper()
	f, err := lib.Declare(sig)
	if err != nil {
		t.Fatalf("Declare(%q): %v", sig, err)
	}
	return f
}

func call(t testing.TB, f *Function, args ...any) *Result {
	t.Helper()
	r, err := f.Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s%v: %v", f.Signature(), args, err)
	}
	return r
}

func TestScalars(t *testing.T) {
	_, lib := open(t, nil)
	add := declare(t, lib, "int32_t add(int32_t a, int32_t b)")
	if got := call(t, add, 2, 40).Return; got != int64(42) {
		t.Errorf("add(2, 40) = %#v, want int64(42)", got)
	}
	if add.path.Load() != pathValues {
		t.Errorf("add did not take the scalar fast path (path %d)", add.path.Load())
	}
	mul := declare(t, lib, "int64_t mul_i64(int64_t a, int64_t b)")
	if got := call(t, mul, int64(-3_000_000_000), int32(7)).Int(); got != -21_000_000_000 {
		t.Errorf("mul_i64 = %d", got)
	}
	addU := declare(t, lib, "uint64_t add_u64(uint64_t a, uint64_t b)")
	if got := call(t, addU, uint64(1<<63), uint64(5)).Return; got != uint64(1<<63+5) {
		t.Errorf("add_u64 = %#v, want uint64(%d)", got, uint64(1<<63+5))
	}
	mix := declare(t, lib, "double mix_d(int32_t a, double b, float c, int64_t d)")
	if got := call(t, mix, 1, 2.5, float32(0.25), int64(4)).Float(); got != 1+2.5*2+0.25*4+4*8 {
		t.Errorf("mix_d = %v", got)
	}
	neg := declare(t, lib, "int8_t neg_i8(int8_t v)")
	if got := call(t, neg, -128+1).Int(); got != 127 {
		t.Errorf("neg_i8(-127) = %d", got)
	}
	even := declare(t, lib, "bool is_even(int32_t v)")
	if got := call(t, even, 4).Return; got != true {
		t.Errorf("is_even(4) = %#v, want true", got)
	}
	// Out of range: refused before the call, by the fast path and the JSON one alike.
	_, err := neg.Call(context.Background(), 200)
	if !errors.Is(err, ErrBadArgument) {
		t.Errorf("neg_i8(200): %v, want ErrBadArgument", err)
	}
}

func TestText(t *testing.T) {
	_, lib := open(t, nil)
	strLen := declare(t, lib, "size_t str_len(const char* s)")
	if got := call(t, strLen, "h\u00e9llo").Int(); got != 6 {
		t.Errorf("str_len = %d, want 6 (UTF-8 bytes)", got)
	}
	if got := call(t, declare(t, lib, "const char* greeting(void)")).String(); got == "" {
		t.Errorf("greeting() returned no text")
	}
	upper := declare(t, lib, "int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)")
	r := call(t, upper, "legacy api", 32)
	if r.Int() != 10 || r.Out["out"] != "LEGACY API" {
		t.Errorf("copy_upper = %d, out %#v", r.Int(), r.Out)
	}
	rev := declare(t, lib, "int reverse_str([in, out, string, size_is(cap)] char* buf, int cap)")
	if r := call(t, rev, "abc", 8); r.Out["buf"] != "cba" {
		t.Errorf("reverse_str out %#v", r.Out)
	}
}

func TestBuffers(t *testing.T) {
	_, lib := open(t, nil)
	sum := declare(t, lib, "int sum_i32([in, size_is(n)] const int32_t* v, int n)")
	if got := call(t, sum, []int32{5, -7, 100}, 3).Int(); got != 98 {
		t.Errorf("sum_i32 = %d", got)
	}
	sumF := declare(t, lib, "double sum_f64([in, size_is(n)] const double* v, uint32_t n)")
	if got := call(t, sumF, []float64{0.5, 1.25}, 2).Float(); got != 1.75 {
		t.Errorf("sum_f64 = %v", got)
	}
	xor := declare(t, lib, "void xor_u8([in, out, size_is(n)] uint8_t* v, int32_t n, uint8_t k)")
	r := call(t, xor, []byte{0x00, 0x0f, 0xff}, 3, 0x5a)
	if want := []any{int64(0x5a), int64(0x55), int64(0xa5)}; !reflect.DeepEqual(r.Out["v"], want) {
		t.Errorf("xor_u8 out %#v, want %#v", r.Out["v"], want)
	}
	if r.Return != nil {
		t.Errorf("void return %#v, want nil", r.Return)
	}
	fill := declare(t, lib, "void fill_seq_u16([out, size_is(n)] uint16_t* out, int n, uint16_t start)")
	if r := call(t, fill, 3, 7); !reflect.DeepEqual(r.Out["out"], []any{int64(7), int64(10), int64(13)}) {
		t.Errorf("fill_seq_u16 out %#v", r.Out)
	}
	// nil is a null pointer: sum_i32 answers -1 for one.
	if got := call(t, sum, nil, 0).Int(); got != -1 {
		t.Errorf("sum_i32(NULL) = %d, want -1", got)
	}
}

const structs = "struct sample_point { int32_t x; int32_t y; };" +
	"struct sample_rect { struct sample_point tl; struct sample_point br; };"

func TestStructs(t *testing.T) {
	_, lib := open(t, nil)
	sum := declare(t, lib, structs+"int point_sum(struct sample_point p)")
	if got := call(t, sum, map[string]any{"x": 40, "y": 2}).Int(); got != 42 {
		t.Errorf("point_sum = %d", got)
	}
	mk := declare(t, lib, structs+"struct sample_point point_make(int x, int y)")
	if got := call(t, mk, -3, 9).Return; !reflect.DeepEqual(got, map[string]any{"x": int64(-3), "y": int64(9)}) {
		t.Errorf("point_make = %#v", got)
	}
	grow := declare(t, lib, structs+"void rect_grow([in, out] struct sample_rect* r, int by)")
	r := call(t, grow, map[string]map[string]int{"tl": {"x": 1, "y": 2}, "br": {"x": 5, "y": 10}}, 3)
	want := map[string]any{"tl": map[string]any{"x": int64(-2), "y": int64(-1)},
		"br": map[string]any{"x": int64(8), "y": int64(13)}}
	if !reflect.DeepEqual(r.Out["r"], want) {
		t.Errorf("rect_grow out %#v, want %#v", r.Out["r"], want)
	}
	// A Go struct goes through encoding/json.
	type point struct {
		X int32 `json:"x"`
		Y int32 `json:"y"`
	}
	if got := call(t, sum, point{X: 4, Y: 5}).Int(); got != 9 {
		t.Errorf("point_sum(struct) = %d", got)
	}
	_, err := sum.Call(context.Background(), map[string]any{"x": 1})
	if !errors.Is(err, ErrBadArgument) {
		t.Errorf("point_sum without y: %v, want ErrBadArgument", err)
	}
}

func TestHandleAcrossCalls(t *testing.T) {
	_, lib := open(t, nil)
	create := declare(t, lib, "int obj_create(int initial, [out] void** h)")
	r := call(t, create, 10)
	h := r.Out["h"]
	if r.Int() != 0 || h == nil || h == int64(0) {
		t.Fatalf("obj_create = %d, h %#v", r.Int(), h)
	}
	objAdd := declare(t, lib, "int obj_add(void* h, int v)")
	if got := call(t, objAdd, h, 5).Int(); got != 15 {
		t.Errorf("obj_add = %d", got)
	}
	if objAdd.path.Load() != pathValues {
		t.Errorf("a handle argument should take the scalar fast path")
	}
	if got := call(t, declare(t, lib, "int obj_get(void* h)"), h).Int(); got != 15 {
		t.Errorf("obj_get = %d", got)
	}
	call(t, declare(t, lib, "void obj_destroy(void* h)"), h)
}

func TestLastError(t *testing.T) {
	_, lib := open(t, nil)
	setErrno := declare(t, lib, "int set_errno(int value)")
	r := call(t, setErrno, 42)
	if r.Int() != -1 || r.LastError != 42 {
		t.Errorf("set_errno(42) = %d, last error %d", r.Int(), r.LastError)
	}
	// The JSON path reports it too.
	raw, err := setErrno.CallJSON(context.Background(), "[7]")
	if err != nil || !strings.Contains(raw, `"last_error":7`) || !strings.Contains(raw, `"return":-1`) {
		t.Errorf("CallJSON = %s, %v", raw, err)
	}
}

func TestCrashThenWorkingCall(t *testing.T) {
	b, lib := open(t, nil)
	crash := declare(t, lib, "int crash_segv(void)")
	_, err := crash.Call(context.Background())
	var e *Error
	if !errors.Is(err, ErrCrashed) || !errors.As(err, &e) || e.Kind != KindCrashed || e.Message == "" {
		t.Fatalf("crash_segv: %v, want ErrCrashed with a message", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("a crash matched ErrTimeout")
	}
	add := declare(t, lib, "int add(int a, int b)")
	if got := call(t, add, 1, 2).Int(); got != 3 {
		t.Errorf("add after the crash = %d", got)
	}
	st, err := b.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Restarts < 1 || st.Bits != 32 || st.PID <= 0 || st.CallsOK < 1 {
		t.Errorf("stats after a crash and a call: %+v", st)
	}
}

func TestTimeoutFromContext(t *testing.T) {
	_, lib := open(t, nil)
	hang := declare(t, lib, "int hang_forever(void)")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := hang.Call(ctx)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang_forever with a 300 ms context: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	// The context is done now: refused before anything is sent.
	if _, err := hang.Call(ctx); !errors.Is(err, ErrTimeout) {
		t.Errorf("a call on an expired context: %v", err)
	}
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	if _, err := hang.Call(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("a call on a cancelled context: %v", err)
	}
	add := declare(t, lib, "int add(int a, int b)")
	if got := call(t, add, 20, 22).Int(); got != 42 {
		t.Errorf("add after the timeout = %d", got)
	}
}

func TestGoroutines(t *testing.T) {
	_, lib := open(t, nil)
	add := declare(t, lib, "int add(int a, int b)")
	upper := declare(t, lib, "int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)")
	const workers, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				r, err := add.Call(context.Background(), w, i)
				if err != nil || r.Int() != int64(w+i) {
					errs <- fmt.Errorf("goroutine %d: add(%d, %d) = %v, %v", w, w, i, r, err)
					return
				}
				text := fmt.Sprintf("g%d-%d", w, i)
				r, err = upper.Call(context.Background(), text, 16)
				if err != nil || r.Out["out"] != fmt.Sprintf("G%d-%d", w, i) {
					errs <- fmt.Errorf("goroutine %d: copy_upper(%q) = %v, %v", w, text, r, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestErrors(t *testing.T) {
	b, lib := open(t, nil)
	if _, err := lib.Declare("int add(int a,"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a broken signature: %v", err)
	}
	if _, err := lib.Declare("int no_such_function(void)"); !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("a missing export: %v", err)
	}
	if _, err := b.Load(sample + ".missing"); !errors.Is(err, ErrLibraryLoadFailed) {
		t.Errorf("a missing library: %v", err)
	}
	add := declare(t, lib, "int add(int a, int b)")
	if _, err := add.Call(context.Background(), make(chan int), 1); !errors.Is(err, ErrBadArgument) {
		t.Errorf("a channel argument: %v", err)
	}
	if _, err := add.Call(context.Background(), "two", 1); !errors.Is(err, ErrBadArgument) {
		t.Errorf("text for an int: %v", err)
	}
	if _, err := add.Call(context.Background(), 1); !errors.Is(err, ErrBadArgument) {
		t.Errorf("one argument for two: %v", err)
	}
	raw, err := add.CallJSON(context.Background(), `["x", 1]`)
	if !errors.Is(err, ErrBadArgument) || !strings.Contains(raw, `"kind":"bad_argument"`) {
		t.Errorf("CallJSON with text for an int: %s, %v", raw, err)
	}
	if _, err := Open(&Options{Arch: 16}); !errors.Is(err, ErrBadArgument) {
		t.Errorf("Open with arch 16: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := add.Call(context.Background(), 1, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("a call after Close: %v", err)
	}
	if _, err := b.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v", err)
	}
}

func TestOptions(t *testing.T) {
	_, lib := open(t, &Options{CallTimeout: 200 * time.Millisecond, SurrogateLogLevel: "error"})
	hang := declare(t, lib, "int hang_forever(void)")
	_, err := hang.Call(context.Background())
	if !errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang_forever with CallTimeout 200 ms: %v, want ErrTimeout not from a context", err)
	}
	f, err := lib.DeclareWith("int counter_next(void)", FunctionOptions{Idempotent: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := call(t, f).Int(); got < 1 {
		t.Errorf("counter_next = %d", got)
	}
}

func TestCloseWaitsForCalls(t *testing.T) {
	b, lib := open(t, nil)
	sleep := declare(t, lib, "int sleep_ms(int ms)")
	done := make(chan error, 1)
	go func() {
		r, err := sleep.Call(context.Background(), 300)
		if err == nil && r.Int() != 300 {
			err = fmt.Errorf("sleep_ms(300) = %d", r.Int())
		}
		done <- err
	}()
	// Close once the call is in the surrogate (the bridge counts it).
	for limit := time.Now().Add(10 * time.Second); ; {
		st, err := b.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.InFlight > 0 {
			break
		}
		if time.Now().After(limit) {
			t.Fatal("the call never showed in Stats().InFlight")
		}
		runtime.Gosched()
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the call in progress when Close began: %v, want it to finish", err)
		}
	default:
		t.Errorf("Close returned before the call in progress finished")
	}
}

func TestForkServer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fork server is Linux only")
	}
	parentOf := func(pid int64) int {
		text, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		s := string(text)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		ppid, err := strconv.Atoi(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		return ppid
	}
	first, _ := open(t, &Options{ForkServer: true})
	second, lib := open(t, &Options{ForkServer: true})
	add := declare(t, lib, "int32_t add(int32_t a, int32_t b)")
	if got := call(t, add, 2, 40).Int(); got != 42 {
		t.Errorf("add(2, 40) = %d", got)
	}
	a, err := first.Stats()
	if err != nil {
		t.Fatal(err)
	}
	b, err := second.Stats()
	if err != nil {
		t.Fatal(err)
	}
	server := parentOf(a.PID)
	if server == os.Getpid() || parentOf(b.PID) != server || parentOf(int64(server)) != os.Getpid() {
		t.Errorf("surrogates %d and %d: parents %d and %d, want one fork server started by %d", a.PID, b.PID,
			server, parentOf(b.PID), os.Getpid())
	}
}

func TestPoolSize(t *testing.T) {
	b, lib := open(t, &Options{PoolSize: 2})
	add := declare(t, lib, "int32_t add(int32_t a, int32_t b)")
	if got := call(t, add, 2, 40).Int(); got != 42 {
		t.Errorf("add(2, 40) = %d", got)
	}
	st, err := b.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Starts != 2 {
		t.Errorf("Stats().Starts = %d with PoolSize 2, want 2 (one per surrogate)", st.Starts)
	}
}
