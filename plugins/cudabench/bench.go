//go:build cgo

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/acceltel/acceltel/plugins/sdk"
)

func runGPU(ctx context.Context, name string, cfg config, emit func(sdk.Measurement) error) error {
	// A CUDA context is current per OS thread, so every call of a run must
	// come from the thread that made it current.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := deviceCount()
	if err != nil {
		return err
	}
	devices := cfg.devices
	if devices == nil {
		for i := range n {
			devices = append(devices, i)
		}
	}
	for _, d := range devices {
		if d >= n {
			return fmt.Errorf("device %d does not exist: the driver sees %d device(s)", d, n)
		}
	}
	for _, d := range devices {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := runOn(ctx, d, name, cfg, emit); err != nil {
			return fmt.Errorf("device %d: %w", d, err)
		}
	}
	return nil
}

func runOn(ctx context.Context, index int, name string, cfg config, emit func(sdk.Measurement) error) error {
	g, err := openGPU(index)
	if err != nil {
		return fmt.Errorf("%w (driver %s)", err, driverVersion())
	}
	defer g.close()
	switch name {
	case "gpu.memory":
		return runMemory(ctx, g, cfg, emit)
	case "gpu.transfer":
		return runTransfer(ctx, g, cfg, emit)
	case "gpu.launch":
		return runLaunch(ctx, g, cfg, emit)
	case "gpu.gemm":
		return runGemm(ctx, g, cfg, emit)
	}
	return fmt.Errorf("unknown benchmark %q", name)
}

// warm runs op in batches, waiting for each, until d has passed (at least
// one batch): the first uses pay for lazy loading, and GPU clocks ramp up
// under load.
func (g *gpu) warm(ctx context.Context, d time.Duration, op func() error) error {
	const batch = 4
	start := time.Now()
	for {
		for range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := op(); err != nil {
				return err
			}
		}
		if err := g.sync(); err != nil {
			return err
		}
		if time.Since(start) >= d {
			return nil
		}
	}
}

// timed warms up, then enqueues reps ops back to back with an event between
// each two, and returns each op's GPU time in seconds. Events time the GPU
// alone: no launch overhead or host clock in the figures.
func (g *gpu) timed(ctx context.Context, warmup time.Duration, reps int, op func() error) ([]float64, error) {
	if err := g.warm(ctx, warmup, op); err != nil {
		return nil, err
	}
	evs, err := g.newEvents(reps + 1)
	if err != nil {
		return nil, err
	}
	defer evs.destroy()
	// Nothing may be in flight on return: the caller frees the buffers.
	defer func() { _ = g.sync() }() // an error here has already failed the run
	if err := g.record(evs[0]); err != nil {
		return nil, err
	}
	for i := range reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := op(); err != nil {
			return nil, err
		}
		if err := g.record(evs[i+1]); err != nil {
			return nil, err
		}
	}
	out := make([]float64, reps)
	for i := range reps {
		if out[i], err = elapsed(evs[i], evs[i+1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func runMemory(ctx context.Context, g *gpu, cfg config, emit func(sdk.Measurement) error) error {
	size := cfg.size
	var bufs [3]devPtr
	defer func() {
		for _, p := range bufs {
			g.free(p)
		}
	}()
	for i := range bufs {
		p, err := g.alloc(size)
		if err != nil {
			return err
		}
		bufs[i] = p
		// Each double becomes 1.0000002: triad computes on ordinary numbers.
		if err := g.memset32(p, 0x3ff00000, size/4); err != nil {
			return err
		}
	}
	a, b, c := bufs[0], bufs[1], bufs[2]
	elems := size / 16
	peak, source := memoryPeak(g.info.name, g.info.memClockKHz, g.info.busWidthBits)
	for _, k := range []struct {
		name  string
		bytes int64 // moved per op, counted as STREAM does: each read and each write once
		op    func() error
	}{
		{"copy", 2 * size, func() error { return g.launchCopy(a, b, elems) }},
		{"triad", 3 * size, func() error { return g.launchTriad(a, b, c, 3, elems) }},
		{"memcpy", 2 * size, func() error { return g.copyDtoD(a, b, size) }},
	} {
		start := time.Now()
		ts, err := g.timed(ctx, cfg.warmup, cfg.iterations, k.op)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		attrs := g.info.attrs("bench.kernel", k.name)
		if peak > 0 {
			attrs["bench.peak_source"] = source
		}
		err = emit(sdk.Measurement{Name: "gpu.memory.bandwidth", Unit: "By/s", Value: float64(k.bytes) / median(ts),
			Peak: peak, Attributes: attrs, Duration: time.Since(start)})
		if err != nil {
			return err
		}
	}
	return nil
}

func runTransfer(ctx context.Context, g *gpu, cfg config, emit func(sdk.Measurement) error) error {
	host, err := g.allocHost(cfg.size)
	if err != nil {
		return err
	}
	defer g.freeHost(host)
	dev, err := g.alloc(cfg.size)
	if err != nil {
		return err
	}
	defer g.free(dev)
	for _, d := range []struct {
		name string
		op   func() error
	}{
		{"h2d", func() error { return g.copyHtoD(dev, host, cfg.size) }},
		{"d2h", func() error { return g.copyDtoH(host, dev, cfg.size) }},
	} {
		start := time.Now()
		ts, err := g.timed(ctx, cfg.warmup, cfg.iterations, d.op)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		// No reference peak: what the link can do depends on the slot and
		// the host as much as on the GPU.
		err = emit(sdk.Measurement{Name: "gpu.transfer.bandwidth", Unit: "By/s", Value: float64(cfg.size) / median(ts),
			Attributes: g.info.attrs("bench.direction", d.name), Duration: time.Since(start)})
		if err != nil {
			return err
		}
	}
	return nil
}

// pipelinedReps is how many batches of back-to-back launches are timed.
const pipelinedReps = 11

func runLaunch(ctx context.Context, g *gpu, cfg config, emit func(sdk.Measurement) error) error {
	start := time.Now()
	if err := g.warm(ctx, cfg.warmup, func() error { return g.launchEmpty(1) }); err != nil {
		return err
	}
	rts := make([]float64, 0, cfg.iterations)
	for len(rts) < cfg.iterations {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := g.roundtrips(min(1000, cfg.iterations-len(rts)))
		if err != nil {
			return err
		}
		rts = append(rts, chunk...)
	}
	err := emit(sdk.Measurement{Name: "gpu.launch.latency", Unit: "s", Value: median(rts),
		Attributes: g.info.attrs("bench.mode", "roundtrip"), Duration: time.Since(start)})
	if err != nil {
		return err
	}
	start = time.Now()
	ts, err := g.timed(ctx, 0, pipelinedReps, func() error { return g.launchEmpty(cfg.iterations) })
	if err != nil {
		return err
	}
	return emit(sdk.Measurement{Name: "gpu.launch.latency", Unit: "s", Value: median(ts) / float64(cfg.iterations),
		Attributes: g.info.attrs("bench.mode", "pipelined"), Duration: time.Since(start)})
}

// gemmCandidates is how many of cuBLASLt's heuristic choices are tried; the
// first is not always the fastest, and frameworks that autotune find that.
const gemmCandidates = 4

func runGemm(ctx context.Context, g *gpu, cfg config, emit func(sdk.Measurement) error) error {
	if _, err := openCublasLt(cfg.cublaslt); err != nil {
		return err
	}
	var ws devPtr
	if cfg.workspace > 0 {
		var err error
		if ws, err = g.alloc(cfg.workspace); err != nil {
			return err
		}
		defer g.free(ws)
	}
	var errs, skipped []error
	measured := 0
	for _, t := range cfg.dtypes {
		if g.info.cc < t.minCC {
			skipped = append(skipped, fmt.Errorf("%s needs compute capability %d.%d", t.name, t.minCC/10, t.minCC%10))
			continue
		}
		err := runGemmType(ctx, g, t, cfg, ws, emit)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
			continue
		}
		measured++
	}
	if measured == 0 && len(errs) == 0 {
		return fmt.Errorf("no requested GEMM type runs on %s (compute capability %s): %w",
			g.info.name, g.info.ccString(), errors.Join(skipped...))
	}
	return errors.Join(errs...)
}

func runGemmType(ctx context.Context, g *gpu, t gemmType, cfg config, ws devPtr, emit func(sdk.Measurement) error) error {
	m, n, k := cfg.m, cfg.n, cfg.k
	var a, b, d devPtr
	defer func() { g.free(a); g.free(b); g.free(d) }()
	var err error
	if a, err = g.alloc(t.abSize * m * k); err != nil {
		return err
	}
	if b, err = g.alloc(t.abSize * k * n); err != nil {
		return err
	}
	if d, err = g.alloc(t.cdSize * m * n); err != nil {
		return err
	}
	const patternBytes = 4 << 20
	if err := g.upload(a, t.abSize*m*k, randomPattern(t.abType, patternBytes, 1)); err != nil {
		return err
	}
	if err := g.upload(b, t.abSize*k*n, randomPattern(t.abType, patternBytes, 2)); err != nil {
		return err
	}
	plan, err := newGemmPlan(t, m, n, k, cfg.workspace, gemmCandidates)
	if err != nil {
		return err
	}
	defer plan.destroy()
	best, bestTime := -1, math.Inf(1)
	var tryErr error
	for i := range plan.candidates() {
		if !plan.usable(i) {
			continue
		}
		ts, err := g.timed(ctx, 0, 3, func() error { return plan.matmul(g, i, a, b, d, ws, cfg.workspace) })
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			tryErr = err
			continue
		}
		if med := median(ts); med < bestTime {
			best, bestTime = i, med
		}
	}
	if best < 0 {
		if tryErr != nil {
			return tryErr
		}
		return fmt.Errorf("cuBLASLt %s has no algorithm for %dx%dx%d on %s", cublasLtVersion(), m, n, k, g.info.name)
	}
	start := time.Now()
	ts, err := g.timed(ctx, cfg.warmup, cfg.iterations, func() error { return plan.matmul(g, best, a, b, d, ws, cfg.workspace) })
	if err != nil {
		return err
	}
	attrs := g.info.attrs("bench.dtype", t.name, "bench.shape", fmt.Sprintf("%dx%dx%d", m, n, k),
		"cublaslt.version", cublasLtVersion())
	peak := gemmPeak(g.info.name, t.name)
	if peak > 0 {
		attrs["bench.peak_source"] = peakDatasheet
	}
	return emit(sdk.Measurement{Name: "gpu.gemm.flops", Unit: "{flop}/s", Value: gemmFLOPs(m, n, k) / median(ts),
		Peak: peak, Attributes: attrs, Duration: time.Since(start)})
}
