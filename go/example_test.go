package dllbridge_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"dllbridge"
)

// Calls add, copy_upper and divmod of the 32-bit sample library
// (DLLBRIDGE_SAMPLE32 names it) from this 64-bit program.
func Example() {
	b, err := dllbridge.Open(nil) // starts surrogate32
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	lib, err := b.Load(os.Getenv("DLLBRIDGE_SAMPLE32"))
	if err != nil {
		fmt.Println(err)
		return
	}
	add, _ := lib.Declare("int32_t add(int32_t a, int32_t b)")
	r, err := add.Call(context.Background(), 2, 40)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("add(2, 40) =", r.Return)

	upper, _ := lib.Declare("int copy_upper(const char* in, [out, size_is(cap)] char* out, int cap)")
	r, _ = upper.Call(context.Background(), "legacy api", 32)
	fmt.Println(r.Return, r.Out["out"])

	divmod, _ := lib.Declare("int divmod(int a, int b, [out] int* q, [out] int* r)")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, _ = divmod.Call(ctx, 47, 6)
	fmt.Println(r.Out["q"], r.Out["r"])
	// Output:
	// add(2, 40) = 42
	// 10 LEGACY API
	// 7 5
}
