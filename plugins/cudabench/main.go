// Command cudabench is acceltel's first-party GPU benchmark plugin: device
// memory bandwidth, host-device transfer bandwidth, kernel launch latency and
// dense GEMM throughput of NVIDIA GPUs. It is built without a CUDA toolkit:
// the driver (libcuda.so.1) and cuBLASLt are opened at run time, and the
// kernels are PTX that the driver JIT-compiles. Without a driver it still
// starts, says why it cannot run, and fails its runs with that reason.
// It is started by the benchmark receiver or by `acceltel bench`, not by hand.
package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/acceltel/acceltel/plugins/sdk"
)

var version = "dev"

type cudabench struct {
	// mu serializes runs: two benchmarks sharing a GPU would measure each other.
	mu sync.Mutex
}

// libcudaEnv names the driver library to open instead of libcuda.so.1. It is
// an environment variable, not a parameter, because Describe needs the driver
// before any run: set it in the receiver's `env` for a driver outside the
// loader's search path.
const libcudaEnv = "CUDABENCH_LIBCUDA"

var (
	devicesParam = sdk.Parameter{Name: "devices", Type: sdk.String, Default: "0",
		Description: `CUDA device ordinals to measure, comma-separated, or "all"; each is measured in turn.`}
	warmupParam = sdk.Parameter{Name: "warmup", Type: sdk.Duration, Default: "200ms", Unit: "s",
		Description: "Untimed work before the timed repetitions, so clocks have ramped up."}
)

func iterationsParam(def, description string) sdk.Parameter {
	return sdk.Parameter{Name: "iterations", Type: sdk.Int, Default: def, Description: description}
}

const medianOf = "Timed repetitions; the median is reported."

func benchmarks() []sdk.Benchmark {
	cuda := []string{"cuda"}
	return []sdk.Benchmark{
		{
			Name: "gpu.memory",
			Description: "Device memory bandwidth: the copy and triad kernels (STREAM byte counting, 16-byte accesses) " +
				"and the driver's device-to-device memcpy, timed with CUDA events.",
			Parameters: []sdk.Parameter{
				{Name: "size", Type: sdk.Bytes, Default: "1GiB", Unit: "By",
					Description: "Size of each of the three device arrays, a multiple of 16; keep it far above the L2 cache."},
				iterationsParam("20", medianOf), warmupParam, devicesParam,
			},
			RequiredCapabilities: cuda,
			Units:                []string{"By/s"},
		},
		{
			Name:        "gpu.transfer",
			Description: "Host-to-device and device-to-host bandwidth from pinned host memory, timed with CUDA events.",
			Parameters: []sdk.Parameter{
				{Name: "size", Type: sdk.Bytes, Default: "256MiB", Unit: "By", Description: "Bytes per copy."},
				iterationsParam("10", medianOf), warmupParam, devicesParam,
			},
			RequiredCapabilities: cuda,
			Units:                []string{"By/s"},
		},
		{
			Name: "gpu.launch",
			Description: "Launch latency of an empty kernel: launch-to-completion seen by the host (roundtrip), " +
				"and the GPU time per launch of back-to-back launches (pipelined).",
			Parameters: []sdk.Parameter{
				iterationsParam("1000", "Roundtrip: timed launches, the median reported. Pipelined: launches per repetition, "+
					"the median of 11 repetitions reported per launch."),
				warmupParam, devicesParam,
			},
			RequiredCapabilities: cuda,
			Units:                []string{"s"},
		},
		{
			Name: "gpu.gemm",
			Description: "Dense GEMM throughput through cuBLASLt (D = A^T B, FP32 accumulation): bf16, fp16, tf32, " +
				"and fp8 e4m3 on compute capability 8.9 and later. The fastest of cuBLASLt's first heuristic choices is timed.",
			Parameters: []sdk.Parameter{
				{Name: "m", Type: sdk.Int, Default: "8192", Description: "Rows of D."},
				{Name: "n", Type: sdk.Int, Default: "8192", Description: "Columns of D."},
				{Name: "k", Type: sdk.Int, Default: "8192", Description: "Inner dimension."},
				{Name: "dtypes", Type: sdk.String, Default: "bf16,fp16,tf32,fp8",
					Description: "Input types, comma-separated; fp8 is skipped on GPUs without FP8 tensor cores."},
				iterationsParam("20", medianOf),
				{Name: "warmup", Type: sdk.Duration, Default: "500ms", Unit: "s", Description: warmupParam.Description},
				{Name: "workspace", Type: sdk.Bytes, Default: "32MiB", Unit: "By", Description: "cuBLASLt workspace."},
				{Name: "cublaslt", Type: sdk.String,
					Description: "Path of libcublasLt.so; empty: libcublasLt.so.12, then .so.11, on the loader's path and in /usr/local/cuda."},
				devicesParam,
			},
			RequiredCapabilities: cuda,
			Units:                []string{"{flop}/s"},
		},
	}
}

// Describe opens the driver once (cached), so that a host without one learns
// why from the descriptions while still seeing what the plugin offers.
func (*cudabench) Describe(context.Context) (sdk.Info, error) {
	bs := benchmarks()
	if err := probe(); err != nil {
		for i := range bs {
			bs[i].Description = fmt.Sprintf("unavailable: %v. %s", err, bs[i].Description)
		}
	}
	return sdk.Info{Name: "cudabench", Version: version, Benchmarks: bs}, nil
}

func (c *cudabench) Run(ctx context.Context, name string, p sdk.Params, emit func(sdk.Measurement) error) error {
	cfg, err := parseConfig(name, p)
	if err != nil {
		return err
	}
	if err := probe(); err != nil {
		return fmt.Errorf("CUDA unavailable: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return runGPU(ctx, name, cfg, emit)
}

func main() { sdk.Serve(&cudabench{}) }
