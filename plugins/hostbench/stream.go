package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/acceltel/acceltel/plugins/sdk"
)

func cpus() int { return runtime.GOMAXPROCS(0) }

type kernel struct {
	name  string
	bytes int // bytes moved per element, as STREAM counts them
	fn    func(a, b, c []float64)
}

const scalar = 3.0

var kernels = []kernel{
	{"copy", 16, func(a, _, c []float64) { copy(c, a) }},
	{"scale", 16, func(_, b, c []float64) {
		for i := range b {
			b[i] = scalar * c[i]
		}
	}},
	{"add", 24, func(a, b, c []float64) {
		for i := range c {
			c[i] = a[i] + b[i]
		}
	}},
	{"triad", 24, func(a, b, c []float64) {
		for i := range a {
			a[i] = b[i] + scalar*c[i]
		}
	}},
}

// parallel runs fn on threads disjoint slices of the arrays, each worker
// touching only its own part so that first-touch places pages near it.
func parallel(threads int, a, b, c []float64, fn func(a, b, c []float64)) {
	var wg sync.WaitGroup
	n := len(a)
	for t := range threads {
		lo, hi := n*t/threads, n*(t+1)/threads
		wg.Go(func() { fn(a[lo:hi], b[lo:hi], c[lo:hi]) })
	}
	wg.Wait()
}

func runStream(ctx context.Context, size int64, d time.Duration, threads int, emit func(sdk.Measurement) error) error {
	n := int(size / 8)
	if n < threads*64 {
		return fmt.Errorf("size %d B is too small for %d threads", size, threads)
	}
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	parallel(threads, a, b, c, func(a, b, c []float64) {
		for i := range a {
			a[i], b[i], c[i] = 1, 2, 0
		}
	})
	per := d / time.Duration(len(kernels))
	for _, k := range kernels {
		best, start := time.Duration(1<<62), time.Now()
		for pass := 0; pass < 3 || time.Since(start) < per; pass++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			t0 := time.Now()
			parallel(threads, a, b, c, k.fn)
			best = min(best, time.Since(t0))
		}
		err := emit(sdk.Measurement{
			Name: "memory.bandwidth", Unit: "By/s",
			Value:      float64(k.bytes) * float64(n) / best.Seconds(),
			Attributes: map[string]string{"bench.kernel": k.name, "bench.threads": strconv.Itoa(threads)},
			Duration:   time.Since(start),
		})
		if err != nil {
			return err
		}
	}
	return nil
}
