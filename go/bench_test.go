package dllbridge

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkAdd: a trivial call, add(int32, int32), through surrogate32 on
// the scalar fast path (dllbridge_call_values): the figure to set beside
// overhead_bench's BM_Overhead/add_typed (bench/overhead_bench.cpp).
// ns/op is the mean; p50_us the median call.
func BenchmarkAdd(b *testing.B) { benchAdd(b, pathValues) }

// BenchmarkAddJSON: the same call on the JSON path (dllbridge_call_json).
func BenchmarkAddJSON(b *testing.B) { benchAdd(b, pathJSON) }

func benchAdd(b *testing.B, path int32) {
	_, lib := open(b, nil)
	add := declare(b, lib, "int32_t add(int32_t a, int32_t b)")
	add.path.Store(path)
	ctx := context.Background()
	call(b, add, 1, 2)
	times := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r, err := add.Call(ctx, int32(i), int32(2))
		times[i] = time.Since(start)
		if err != nil || r.Int() != int64(int32(i)+2) {
			b.Fatalf("add(%d, 2) = %v, %v", i, r, err)
		}
	}
	b.StopTimer()
	if add.path.Load() != path {
		b.Fatalf("the call left its path (%d, want %d)", add.path.Load(), path)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50_us")
}
