package main

import (
	"context"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kernels "github.com/acceltel/acceltel/native/cuda"
	"github.com/acceltel/acceltel/plugins/plugintest"
	"github.com/acceltel/acceltel/plugins/sdk"
)

const pkg = "github.com/acceltel/acceltel/plugins/cudabench"

func params(t *testing.T, name string, raw map[string]string) sdk.Params {
	t.Helper()
	b, ok := sdk.Info{Benchmarks: benchmarks()}.Find(name)
	require.True(t, ok, name)
	p, err := sdk.CheckParams(b, raw)
	require.NoError(t, err)
	return p
}

func TestDescribe(t *testing.T) {
	info, err := (&cudabench{}).Describe(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "cudabench", info.Name)
	units := map[string]string{"gpu.memory": "By/s", "gpu.transfer": "By/s", "gpu.launch": "s", "gpu.gemm": "{flop}/s"}
	require.Len(t, info.Benchmarks, len(units))
	for _, b := range info.Benchmarks {
		assert.Equal(t, []string{"cuda"}, b.RequiredCapabilities, b.Name)
		assert.Equal(t, []string{units[b.Name]}, b.Units, b.Name)
		// Every default must pass the SDK's checks and ours.
		p, err := sdk.CheckParams(b, nil)
		require.NoError(t, err, b.Name)
		_, err = parseConfig(b.Name, p)
		require.NoError(t, err, b.Name)
	}
	if probe() != nil {
		for _, b := range info.Benchmarks {
			assert.True(t, strings.HasPrefix(b.Description, "unavailable: "), b.Description)
		}
	}
}

// TestPluginWithoutDriver runs the built plugin the way hosts do, with a
// driver that cannot be opened: it must describe itself, fail its runs with
// the reason, and stay up.
func TestPluginWithoutDriver(t *testing.T) {
	if err := probe(); err != nil && strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Skip("built without cgo: the reasons below come from dlopen")
	}
	bin, sum := plugintest.Build(t, pkg)
	cases := []struct {
		name, env, reason string
	}{
		{"default", "", "libcuda.so.1"},
		{"missing", libcudaEnv + "=/nonexistent/libcuda.so.1", "/nonexistent/libcuda.so.1: cannot open shared object file"},
		// A library that loads but is no CUDA driver: a missing symbol is
		// reported, never called.
		{"not a driver", libcudaEnv + "=libc.so.6", "cuInit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env == "" && probe() == nil {
				t.Skip("this host has a working CUDA driver")
			}
			cfg := sdk.HostConfig{Path: bin, SHA256: sum, StartTimeout: 30 * time.Second}
			if c.env != "" {
				cfg.Env = []string{c.env}
			}
			conn, err := sdk.Open(cfg)
			require.NoError(t, err)
			defer conn.Kill()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			info, err := conn.Describe(ctx)
			require.NoError(t, err)
			require.Len(t, info.Benchmarks, 4)
			for _, b := range info.Benchmarks {
				assert.True(t, strings.HasPrefix(b.Description, "unavailable: "), b.Description)
				assert.Contains(t, b.Description, c.reason)
				assert.Equal(t, []string{"cuda"}, b.RequiredCapabilities)
			}

			for _, name := range []string{"gpu.memory", "gpu.transfer", "gpu.launch", "gpu.gemm"} {
				var got []sdk.Measurement
				err = conn.Run(ctx, name, nil, func(m sdk.Measurement) { got = append(got, m) })
				require.Error(t, err, name)
				assert.Contains(t, err.Error(), "CUDA unavailable: ")
				assert.Contains(t, err.Error(), c.reason)
				assert.Empty(t, got)
			}
			// A bad parameter is reported as such, before the driver is needed.
			err = conn.Run(ctx, "gpu.memory", map[string]string{"size": "1000"}, func(sdk.Measurement) {})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "size must be at least 1MiB")

			assert.False(t, conn.Exited(), "the plugin must survive failed runs")
			_, err = conn.Describe(ctx)
			require.NoError(t, err)
		})
	}
}

func TestRunWithoutDriverFailsCleanly(t *testing.T) {
	if probe() == nil {
		t.Skip("this host has a working CUDA driver")
	}
	err := (&cudabench{}).Run(context.Background(), "gpu.gemm", params(t, "gpu.gemm", nil), func(sdk.Measurement) error {
		t.Fatal("no measurement without a driver")
		return nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CUDA unavailable: ")
}

func TestParseConfig(t *testing.T) {
	ok := []struct {
		bench string
		raw   map[string]string
		check func(t *testing.T, c config)
	}{
		{"gpu.memory", map[string]string{"size": "64MiB", "iterations": "5", "devices": "all"}, func(t *testing.T, c config) {
			assert.Equal(t, int64(64<<20), c.size)
			assert.Equal(t, 5, c.iterations)
			assert.Nil(t, c.devices)
		}},
		{"gpu.transfer", map[string]string{"devices": " 1, 0,1 "}, func(t *testing.T, c config) {
			assert.Equal(t, []int{1, 0}, c.devices)
			assert.Equal(t, int64(256<<20), c.size)
		}},
		{"gpu.launch", map[string]string{"warmup": "0s"}, func(t *testing.T, c config) {
			assert.Equal(t, 1000, c.iterations)
			assert.Zero(t, c.warmup)
		}},
		{"gpu.gemm", nil, func(t *testing.T, c config) {
			assert.Equal(t, []int64{8192, 8192, 8192}, []int64{c.m, c.n, c.k})
			var names []string
			for _, d := range c.dtypes {
				names = append(names, d.name)
			}
			assert.Equal(t, []string{"bf16", "fp16", "tf32", "fp8"}, names)
			assert.Equal(t, int64(32<<20), c.workspace)
			assert.Empty(t, c.cublaslt)
		}},
		{"gpu.gemm", map[string]string{"dtypes": "BF16, bf16,tf32", "m": "100", "cublaslt": "/x/libcublasLt.so.12"}, func(t *testing.T, c config) {
			require.Len(t, c.dtypes, 2)
			assert.Equal(t, "bf16", c.dtypes[0].name)
			assert.Equal(t, "tf32", c.dtypes[1].name)
			assert.Equal(t, "/x/libcublasLt.so.12", c.cublaslt)
		}},
	}
	for _, c := range ok {
		cfg, err := parseConfig(c.bench, params(t, c.bench, c.raw))
		require.NoError(t, err, c.raw)
		c.check(t, cfg)
	}

	bad := []struct {
		bench string
		raw   map[string]string
		want  string
	}{
		{"gpu.memory", map[string]string{"size": "1000"}, "size must be at least 1MiB"},
		{"gpu.memory", map[string]string{"size": "1048584"}, "multiple of 16"},
		{"gpu.memory", map[string]string{"iterations": "0"}, "iterations must be between 1"},
		{"gpu.memory", map[string]string{"warmup": "-1s"}, "warmup must be between 0"},
		{"gpu.memory", map[string]string{"warmup": "2m"}, "warmup must be between 0"},
		{"gpu.transfer", map[string]string{"size": "100"}, "at least 4096 bytes"},
		{"gpu.launch", map[string]string{"iterations": "2000000"}, "iterations must be between 1"},
		{"gpu.launch", map[string]string{"devices": "0,-1"}, "devices must be"},
		{"gpu.launch", map[string]string{"devices": "gpu0"}, "devices must be"},
		{"gpu.gemm", map[string]string{"m": "0"}, "m must be between 1"},
		{"gpu.gemm", map[string]string{"k": "2000000"}, "k must be between 1"},
		{"gpu.gemm", map[string]string{"dtypes": "fp64"}, `unknown type "fp64"`},
		{"gpu.gemm", map[string]string{"dtypes": " , "}, "name at least one"},
		{"gpu.gemm", map[string]string{"dtypes": "fp8", "n": "1000"}, "multiples of 16"},
		{"gpu.gemm", map[string]string{"workspace": "8GiB"}, "workspace must be at most"},
	}
	for _, c := range bad {
		_, err := parseConfig(c.bench, params(t, c.bench, c.raw))
		assert.ErrorContains(t, err, c.want, c.raw)
	}
	_, err := parseConfig("gpu.nothing", sdk.Params{"devices": "0", "iterations": "1", "warmup": "0s"})
	assert.ErrorContains(t, err, "unknown benchmark")
}

func TestPeakTable(t *testing.T) {
	cases := []struct {
		name       string
		memory     float64
		bf16, fp8  float64
		recognized bool
	}{
		{"NVIDIA H100 80GB HBM3", 3.35e12, 989.4e12, 1978.9e12, true},
		{"NVIDIA H100 PCIe", 2.0e12, 756.5e12, 1513e12, true},
		{"NVIDIA H100 NVL", 3.9e12, 835.5e12, 1670.5e12, true},
		{"NVIDIA H200", 4.8e12, 989.4e12, 1978.9e12, true},
		{"NVIDIA H200 NVL", 4.8e12, 835.5e12, 1670.5e12, true},
		{"NVIDIA A100-SXM4-80GB", 2.039e12, 312e12, 0, true},
		{"NVIDIA A100 80GB PCIe", 1.935e12, 312e12, 0, true},
		{"NVIDIA A100-SXM4-40GB", 1.555e12, 312e12, 0, true},
		{"NVIDIA A100-PCIE-40GB", 1.555e12, 312e12, 0, true},
		{"NVIDIA L40S", 0.864e12, 362.05e12, 733e12, true},
		// Whole words only: these are other GPUs.
		{"NVIDIA GH200 480GB", 0, 0, 0, false},
		{"NVIDIA L40", 0, 0, 0, false},
		{"NVIDIA GeForce RTX 4090", 0, 0, 0, false},
	}
	for _, c := range cases {
		p, ok := lookupPeaks(c.name)
		assert.Equal(t, c.recognized, ok, c.name)
		assert.InDelta(t, c.memory, p.memory, 1e6, c.name)
		assert.InDelta(t, c.bf16, gemmPeak(c.name, "bf16"), 1e6, c.name)
		assert.InDelta(t, c.fp8, gemmPeak(c.name, "fp8"), 1e6, c.name)
	}
	// Dense tensor-core rates: fp16 as bf16, tf32 at half of it, fp8 double,
	// wherever the table has them (the L40S datasheet rounds its own ratios).
	for _, p := range peakTable {
		assert.Equal(t, p.flops["bf16"], p.flops["fp16"], p.tokens)
		assert.InEpsilon(t, p.flops["bf16"]/2, p.flops["tf32"], 0.02, p.tokens)
		if fp8, ok := p.flops["fp8"]; ok {
			assert.InEpsilon(t, 2*p.flops["bf16"], fp8, 0.02, p.tokens)
		}
		assert.Greater(t, p.memory, 0.5e12, p.tokens)
	}
}

func TestMemoryPeak(t *testing.T) {
	// Table first, even though the driver's clocks would say about the same.
	v, src := memoryPeak("NVIDIA H100 80GB HBM3", 2619000, 5120)
	assert.Equal(t, 3.35e12, v)
	assert.Equal(t, peakDatasheet, src)
	// An RTX 4090: 10501 MHz on a 384-bit bus, double data rate: 1008 GB/s.
	v, src = memoryPeak("NVIDIA GeForce RTX 4090", 10501000, 384)
	assert.InDelta(t, 1008.1e9, v, 0.1e9)
	assert.Equal(t, peakClocks, src)
	// H100's own clocks give its datasheet figure: the formula is the right one.
	v, _ = memoryPeak("unknown", 2619000, 5120)
	assert.InDelta(t, 3.35e12, v, 0.01e12)
	v, src = memoryPeak("unknown", 0, 5120)
	assert.Zero(t, v)
	assert.Empty(t, src)
}

func TestGemmFLOPs(t *testing.T) {
	assert.Equal(t, 2*8192.0*8192*8192, gemmFLOPs(8192, 8192, 8192))
	assert.Equal(t, 2.0*3*5*7, gemmFLOPs(3, 5, 7))
	// No integer overflow at the largest dimensions parseConfig allows.
	assert.Equal(t, 2.0*maxDim*maxDim*maxDim, gemmFLOPs(maxDim, maxDim, maxDim))
	// An H100 doing an 8192^3 bf16 GEMM in 1.4 ms is at 785 TFLOP/s, 79% of peak.
	eff := gemmFLOPs(8192, 8192, 8192) / 1.4e-3 / gemmPeak("NVIDIA H100 80GB HBM3", "bf16")
	assert.InDelta(t, 0.794, eff, 0.001)
}

func TestGemmTypes(t *testing.T) {
	assert.Equal(t, []string{"bf16", "fp16", "tf32", "fp8"}, gemmTypeNames())
	fp8, ok := findGemmType("fp8")
	require.True(t, ok)
	assert.Equal(t, 89, fp8.minCC, "FP8 tensor cores start with Ada (8.9) and Hopper (9.0)")
	_, ok = findGemmType("int8")
	assert.False(t, ok)
}

// decode reads one element of randomPattern's output as a float64.
func decode(dtype int32, b []byte) float64 {
	switch dtype {
	case cudaR32F:
		return float64(math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24))
	case cudaR16BF:
		return float64(math.Float32frombits((uint32(b[0]) | uint32(b[1])<<8) << 16))
	case cudaR16F:
		h := uint32(b[0]) | uint32(b[1])<<8
		v := math.Ldexp(1+float64(h&0x3ff)/1024, int(h>>10&0x1f)-15)
		if h&0x8000 != 0 {
			v = -v
		}
		return v
	case cudaR8FE4M3:
		v := math.Ldexp(1+float64(b[0]&7)/8, int(b[0]>>3&0xf)-7)
		if b[0]&0x80 != 0 {
			v = -v
		}
		return v
	}
	panic("unknown type")
}

func TestRandomPattern(t *testing.T) {
	for _, gt := range gemmTypes {
		p := randomPattern(gt.abType, 4096, 1)
		require.Len(t, p, 4096)
		neg := 0
		for i := 0; i < len(p); i += int(gt.abSize) {
			v := decode(gt.abType, p[i:])
			require.False(t, math.IsNaN(v) || math.IsInf(v, 0), gt.name)
			require.GreaterOrEqual(t, math.Abs(v), 1.0/16, gt.name)
			require.Less(t, math.Abs(v), 2.0, gt.name)
			if v < 0 {
				neg++
			}
		}
		n := 4096 / int(gt.abSize)
		assert.InDelta(t, n/2, neg, float64(n)/8, "%s: signs are random", gt.name)
		assert.Equal(t, p, randomPattern(gt.abType, 4096, 1), "the same seed gives the same data")
		assert.NotEqual(t, p, randomPattern(gt.abType, 4096, 2))
	}
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 7.0, median([]float64{7}))
	assert.Zero(t, median(nil))
}

func TestAttrs(t *testing.T) {
	d := deviceInfo{index: 3, name: "NVIDIA H200", uuid: "GPU-01234567-89ab-cdef-0123-456789abcdef", cc: 90}
	assert.Equal(t, map[string]string{
		"cuda.device.index": "3", "hw.model": "NVIDIA H200", "hw.id": "GPU-01234567-89ab-cdef-0123-456789abcdef",
		"bench.kernel": "copy",
	}, d.attrs("bench.kernel", "copy"))
	assert.Equal(t, "9.0", d.ccString())
}

// TestPTX checks the committed PTX without a GPU: its header, and an entry
// for every kernel of kernels.cu (a kernel added there but not regenerated
// fails here).
func TestPTX(t *testing.T) {
	ptx := kernels.KernelsPTX
	require.NotEmpty(t, ptx)
	version := regexp.MustCompile(`(?m)^\.version (\d+)\.(\d+)$`).FindStringSubmatch(ptx)
	require.NotNil(t, version, "a .version line")
	// PTX ISA 7.0 is CUDA 11.0 (driver r450): the README promises no newer.
	assert.Equal(t, []string{"7", "0"}, version[1:], "PTX ISA version; update the README's driver requirement with it")
	assert.Regexp(t, `(?m)^\.target sm_80$`, ptx)
	assert.Regexp(t, `(?m)^\.address_size 64$`, ptx)
	assert.Equal(t, strings.Count(ptx, "{"), strings.Count(ptx, "}"), "balanced braces")

	src, err := os.ReadFile("../../native/cuda/kernels.cu")
	require.NoError(t, err)
	declared := regexp.MustCompile(`extern "C" __global__ void (\w+)\(`).FindAllStringSubmatch(string(src), -1)
	entries := regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`).FindAllStringSubmatch(ptx, -1)
	var want, got []string
	for _, m := range declared {
		want = append(want, m[1])
	}
	for _, m := range entries {
		got = append(got, m[1])
	}
	assert.Equal(t, want, got, "kernels.ptx is stale: run go generate in native/cuda")
	assert.ElementsMatch(t, []string{kernels.KernelCopy, kernels.KernelTriad, kernels.KernelEmpty}, got)

	// The parameters the launch code passes: copy16(ptr, ptr, u64), triad(ptr, ptr, ptr, f64, u64).
	assert.Regexp(t, `\.entry copy16\(\s*\.param \.u64 \w+,\s*\.param \.u64 \w+,\s*\.param \.u64 \w+\s*\)`, ptx)
	assert.Regexp(t, `\.entry triad\(\s*(\.param \.u64 \w+,\s*){3}\.param \.f64 \w+,\s*\.param \.u64 \w+\s*\)`, ptx)
	assert.Regexp(t, `\.entry empty\(\)`, ptx)
}
