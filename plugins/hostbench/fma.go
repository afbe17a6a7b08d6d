package main

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// chunk is the number of loop iterations between clock reads.
const chunk = 1 << 16

// sink keeps the compiler from dropping the loop.
var sink atomic.Uint64

// fmaLoop runs chunks of 8 independent FMA chains (enough to cover FMA
// latency on current cores) until deadline, returning the FMAs it did.
// math.FMA compiles to the hardware instruction where the CPU has one.
func fmaLoop(ctx context.Context, deadline time.Time) int64 {
	x := [8]float64{1, 2, 3, 4, 5, 6, 7, 8}
	const m, k = 0.999999, 1e-7
	var n int64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for range chunk {
			x[0], x[1], x[2], x[3] = math.FMA(x[0], m, k), math.FMA(x[1], m, k), math.FMA(x[2], m, k), math.FMA(x[3], m, k)
			x[4], x[5], x[6], x[7] = math.FMA(x[4], m, k), math.FMA(x[5], m, k), math.FMA(x[6], m, k), math.FMA(x[7], m, k)
		}
		n += 8 * chunk
	}
	sink.Add(math.Float64bits(x[0] + x[1] + x[2] + x[3] + x[4] + x[5] + x[6] + x[7]))
	return n
}

// fmaRate runs fmaLoop on threads goroutines for d and returns FLOP/s
// (an FMA counts as two floating-point operations).
func fmaRate(ctx context.Context, d time.Duration, threads int) float64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range threads {
		wg.Go(func() { total.Add(fmaLoop(ctx, deadline)) })
	}
	wg.Wait()
	return 2 * float64(total.Load()) / time.Since(start).Seconds()
}

func runFMA(ctx context.Context, d time.Duration, threads int, emit func(sdk.Measurement) error) error {
	single := fmaRate(ctx, d, 1)
	if err := ctx.Err(); err != nil {
		return err
	}
	err := emit(sdk.Measurement{Name: "cpu.flops", Unit: "{flop}/s", Value: single, Duration: d,
		Attributes: map[string]string{"bench.kernel": "fma", "bench.threads": "1"}})
	if err != nil || threads == 1 {
		return err
	}
	all := fmaRate(ctx, d, threads)
	if err := ctx.Err(); err != nil {
		return err
	}
	return emit(sdk.Measurement{Name: "cpu.flops", Unit: "{flop}/s", Value: all, Duration: d, Peak: single * float64(threads),
		Attributes: map[string]string{"bench.kernel": "fma", "bench.threads": strconv.Itoa(threads)}})
}
