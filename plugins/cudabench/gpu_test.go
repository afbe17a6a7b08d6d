//go:build cgo

package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// The tests below need an NVIDIA GPU and skip without one. gpucheck.sh runs
// them; CUDABENCH_TEST_CUBLASLT gives them a cuBLASLt outside the loader's path.

func requireGPU(t *testing.T) {
	t.Helper()
	if err := probe(); err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
}

func runGPUBench(t *testing.T, name string, raw map[string]string) []sdk.Measurement {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var got []sdk.Measurement
	err := (&cudabench{}).Run(ctx, name, params(t, name, raw), func(m sdk.Measurement) error {
		got = append(got, m)
		return nil
	})
	require.NoError(t, err)
	for _, m := range got {
		assert.Regexp(t, `^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, m.Attributes["hw.id"])
		assert.NotEmpty(t, m.Attributes["hw.model"])
		assert.Equal(t, "0", m.Attributes["cuda.device.index"])
		assert.Positive(t, m.Duration)
		t.Logf("%s %s %.4g %s peak %.4g", m.Name, m.Attributes, m.Value, m.Unit, m.Peak)
	}
	return got
}

func TestGPUMemory(t *testing.T) {
	requireGPU(t)
	got := runGPUBench(t, "gpu.memory", map[string]string{"size": "256MiB", "iterations": "10", "warmup": "50ms"})
	require.Len(t, got, 3)
	for i, k := range []string{"copy", "triad", "memcpy"} {
		assert.Equal(t, k, got[i].Attributes["bench.kernel"])
		assert.Equal(t, "By/s", got[i].Unit)
		// Any CUDA GPU moves more than 50 GB/s and less than 20 TB/s.
		assert.Greater(t, got[i].Value, 50e9)
		assert.Less(t, got[i].Value, 20e12)
		if got[i].Peak > 0 {
			assert.Less(t, got[i].Value, 1.05*got[i].Peak, "no GPU beats its memory's peak")
		}
	}
}

func TestGPUTransfer(t *testing.T) {
	requireGPU(t)
	got := runGPUBench(t, "gpu.transfer", map[string]string{"size": "64MiB", "iterations": "5", "warmup": "0s"})
	require.Len(t, got, 2)
	assert.Equal(t, "h2d", got[0].Attributes["bench.direction"])
	assert.Equal(t, "d2h", got[1].Attributes["bench.direction"])
	for _, m := range got {
		assert.Greater(t, m.Value, 1e9)
		assert.Less(t, m.Value, 1e12)
		assert.Zero(t, m.Peak)
	}
}

func TestGPULaunch(t *testing.T) {
	requireGPU(t)
	got := runGPUBench(t, "gpu.launch", map[string]string{"iterations": "200", "warmup": "0s"})
	require.Len(t, got, 2)
	assert.Equal(t, "roundtrip", got[0].Attributes["bench.mode"])
	assert.Equal(t, "pipelined", got[1].Attributes["bench.mode"])
	for _, m := range got {
		assert.Equal(t, "s", m.Unit)
		assert.Greater(t, m.Value, 100e-9)
		assert.Less(t, m.Value, 10e-3)
	}
	assert.Less(t, got[1].Value, got[0].Value, "pipelined launches overlap")
}

func TestGPUGemm(t *testing.T) {
	requireGPU(t)
	lib := os.Getenv("CUDABENCH_TEST_CUBLASLT")
	if _, err := openCublasLt(lib); err != nil {
		t.Skipf("no cuBLASLt (set CUDABENCH_TEST_CUBLASLT): %v", err)
	}
	got := runGPUBench(t, "gpu.gemm", map[string]string{"m": "2048", "n": "2048", "k": "2048",
		"iterations": "5", "warmup": "50ms", "cublaslt": lib})
	require.NotEmpty(t, got)
	assert.Equal(t, "bf16", got[0].Attributes["bench.dtype"])
	for _, m := range got {
		assert.Equal(t, "{flop}/s", m.Unit)
		assert.Equal(t, "2048x2048x2048", m.Attributes["bench.shape"])
		assert.Greater(t, m.Value, 1e12)
		if m.Peak > 0 {
			assert.Less(t, m.Value, 1.05*m.Peak)
		}
	}
}

func TestGPUBadDevice(t *testing.T) {
	requireGPU(t)
	err := (&cudabench{}).Run(context.Background(), "gpu.launch", params(t, "gpu.launch", map[string]string{"devices": "4096"}),
		func(sdk.Measurement) error { return nil })
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "device 4096 does not exist"), err)
}
