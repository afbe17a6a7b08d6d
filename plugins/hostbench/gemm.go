package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// gemmBlock is the tile edge: three 64×64 float64 tiles (96 KiB) stay in
// a core's L2.
const gemmBlock = 64

// gemm computes c += a×b for n×n row-major matrices, tiled so that each
// tile of b is reused from cache for a whole tile of rows, with the row
// tiles of c split among threads (no two write the same row).
func gemm(ctx context.Context, a, b, c []float64, n, threads int) error {
	tiles := (n + gemmBlock - 1) / gemmBlock
	var wg sync.WaitGroup
	for t := range threads {
		wg.Go(func() {
			for it := t; it < tiles; it += threads {
				if ctx.Err() != nil {
					return
				}
				i0, i1 := it*gemmBlock, min((it+1)*gemmBlock, n)
				for k0 := 0; k0 < n; k0 += gemmBlock {
					k1 := min(k0+gemmBlock, n)
					for j0 := 0; j0 < n; j0 += gemmBlock {
						j1 := min(j0+gemmBlock, n)
						for i := i0; i < i1; i++ {
							ci := c[i*n+j0 : i*n+j1]
							for k := k0; k < k1; k++ {
								aik := a[i*n+k]
								bk := b[k*n+j0 : k*n+j1]
								for j := range ci {
									ci[j] += aik * bk[j]
								}
							}
						}
					}
				}
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// runGEMM multiplies two n×n float64 matrices repeatedly for at least d
// (and at least once) and reports the best pass, as STREAM does.
func runGEMM(ctx context.Context, n int, d time.Duration, threads int, emit func(sdk.Measurement) error) error {
	if n < 1 || n > 16384 {
		return fmt.Errorf("n must be in 1..16384, got %d", n)
	}
	a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i], b[i] = float64(i%7)+1, float64(i%5)-2
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	var best time.Duration
	start := time.Now()
	for pass := 0; pass == 0 || time.Since(start) < d; pass++ {
		t0 := time.Now()
		if err := gemm(ctx, a, b, c, n, threads); err != nil {
			return err
		}
		if el := time.Since(t0); best == 0 || el < best {
			best = el
		}
	}
	return emit(sdk.Measurement{Name: "cpu.flops", Unit: "{flop}/s", Value: flops / best.Seconds(), Duration: time.Since(start),
		Attributes: map[string]string{"bench.kernel": "gemm", "bench.threads": strconv.Itoa(threads), "bench.n": strconv.Itoa(n)}})
}
