// Command hostbench is acceltel's first-party CPU benchmark plugin: memory
// bandwidth (the four STREAM kernels), floating-point throughput (an FMA loop
// and a blocked matrix multiply) and sequential storage throughput. It runs
// on any host, so a fleet has a baseline next to its GPU numbers.
// It is started by the benchmark receiver or by `acceltel bench`, not by hand.
package main

import (
	"context"
	"fmt"

	"github.com/acceltel/acceltel/plugins/sdk"
)

var version = "dev"

type hostbench struct{}

var threadsParam = sdk.Parameter{Name: "threads", Type: sdk.Int, Default: "0", Description: "Worker threads; 0 means one per CPU the process may use."}

func (hostbench) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "hostbench", Version: version, Benchmarks: []sdk.Benchmark{
		{
			Name:        "memory.stream",
			Description: "STREAM copy, scale, add and triad over three float64 arrays; the best of repeated passes, as STREAM reports.",
			Parameters: []sdk.Parameter{
				{Name: "size", Type: sdk.Bytes, Default: "64MiB", Unit: "By", Description: "Size of each array; make it several times the last-level cache."},
				{Name: "duration", Type: sdk.Duration, Default: "2s", Unit: "s", Description: "Time spent on all four kernels together (at least 3 passes each)."},
				threadsParam,
			},
			Units: []string{"By/s"},
		},
		{
			Name:        "cpu.fma",
			Description: "Floating-point throughput of a scalar float64 FMA loop on one core, then on all; the all-core figure's reference peak is perfect scaling of the single-core one.",
			Parameters: []sdk.Parameter{
				{Name: "duration", Type: sdk.Duration, Default: "1s", Unit: "s", Description: "Time spent on each of the two phases."},
				threadsParam,
			},
			Units: []string{"{flop}/s"},
		},
		{
			Name:        "cpu.gemm",
			Description: "Floating-point throughput of a blocked (64×64 tiles) float64 matrix multiply C += A×B on all threads: what compiled code, not a hand-tuned BLAS, gets from the cores and caches; the best of repeated passes.",
			Parameters: []sdk.Parameter{
				{Name: "n", Type: sdk.Int, Default: "1024", Description: "Matrix edge (n×n, 2n³ FLOP a pass)."},
				{Name: "duration", Type: sdk.Duration, Default: "2s", Unit: "s", Description: "Time spent repeating the multiply (at least one pass)."},
				threadsParam,
			},
			Units: []string{"{flop}/s"},
		},
		{
			Name:        "storage.sequential",
			Description: "Sequential write (then fsync) and read of a file on the given path in fixed-size blocks, with O_DIRECT by default so that the device, not the page cache, is measured. The file is removed afterwards.",
			Parameters: []sdk.Parameter{
				{Name: "path", Type: sdk.String, Default: "", Description: "Directory on the file system to measure; empty means the system's temporary directory."},
				{Name: "size", Type: sdk.Bytes, Default: "1GiB", Unit: "By", Description: "File size; larger than the device's write cache for a sustained figure."},
				{Name: "block", Type: sdk.Bytes, Default: "1MiB", Unit: "By", Description: "Size of each read and write, a multiple of 4 KiB."},
				{Name: "direct", Type: sdk.Bool, Default: "true", Description: "Bypass the page cache (O_DIRECT); file systems without it (tmpfs) need false."},
			},
			Units: []string{"By/s"},
		},
	}}, nil
}

func (hostbench) Run(ctx context.Context, name string, p sdk.Params, emit func(sdk.Measurement) error) error {
	threads := int(p.Int("threads"))
	if threads < 0 {
		return fmt.Errorf("threads must be 0 or more, got %d", threads)
	}
	if threads == 0 {
		threads = cpus()
	}
	switch name {
	case "memory.stream":
		return runStream(ctx, p.Bytes("size"), p.Duration("duration"), threads, emit)
	case "cpu.fma":
		return runFMA(ctx, p.Duration("duration"), threads, emit)
	case "cpu.gemm":
		return runGEMM(ctx, int(p.Int("n")), p.Duration("duration"), threads, emit)
	case "storage.sequential":
		return runStorage(ctx, p["path"], p.Bytes("size"), p.Bytes("block"), p.Bool("direct"), emit)
	}
	return fmt.Errorf("unknown benchmark %q", name)
}

func main() { sdk.Serve(hostbench{}) }
