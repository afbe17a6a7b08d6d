//go:build cgo

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/plugins/plugintest"
	"github.com/acceltel/acceltel/plugins/sdk"
)

// These tests run the plugin against testdata/fakecuda.c, a fake driver and
// cuBLASLt with a virtual clock, so that everything short of the GPU itself
// is exercised without one: loading, argument passing, event arithmetic,
// error reporting and the release of everything a run allocates.

type fake struct {
	plugin, sum, lib string
}

func buildFake(t *testing.T) fake {
	t.Helper()
	out, err := exec.Command("go", "env", "CC").Output()
	require.NoError(t, err)
	cc := strings.TrimSpace(string(out))
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) for the fake driver", cc)
	}
	lib := filepath.Join(t.TempDir(), "libfakecuda.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", lib, "testdata/fakecuda.c").CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	bin, sum := plugintest.Build(t, pkg)
	return fake{plugin: bin, sum: sum, lib: lib}
}

// open starts the plugin on the fake driver; after the test, everything
// each run allocated must have been released. The report has a line per
// run that got as far as a context.
func (f fake) open(t *testing.T, env ...string) (conn *sdk.Conn, report string) {
	t.Helper()
	report = filepath.Join(t.TempDir(), "report")
	conn, err := sdk.Open(sdk.HostConfig{Path: f.plugin, SHA256: f.sum, StartTimeout: 30 * time.Second,
		Env:    append([]string{libcudaEnv + "=" + f.lib, "FAKECUDA_REPORT=" + report}, env...),
		Logger: hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Warn}),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.False(t, conn.Exited(), "the plugin must survive every run")
		conn.Kill()
		b, err := os.ReadFile(report)
		if os.IsNotExist(err) {
			return // no run got as far as a context
		}
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			assert.Equal(t, "allocs=0 events=0 streams=0 modules=0 host=0 cublaslt=0 contexts=0", line, "left behind by a run")
		}
	})
	return conn, report
}

// testWriter puts what the plugin writes to stderr (a crash, say) in the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func runConn(t *testing.T, conn *sdk.Conn, name string, raw map[string]string) ([]sdk.Measurement, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []sdk.Measurement
	err := conn.Run(ctx, name, raw, func(m sdk.Measurement) { got = append(got, m) })
	return got, err
}

func TestFakeDriver(t *testing.T) {
	f := buildFake(t)
	conn, report := f.open(t)
	info, err := conn.Describe(context.Background())
	require.NoError(t, err)
	for _, b := range info.Benchmarks {
		assert.NotContains(t, b.Description, "unavailable")
	}
	device := map[string]string{"cuda.device.index": "0", "hw.model": "NVIDIA H100 80GB HBM3",
		"hw.id": "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf"}
	withDevice := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range device {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	t.Run("memory", func(t *testing.T) {
		got, err := runConn(t, conn, "gpu.memory", map[string]string{"size": "16MiB", "iterations": "5", "warmup": "0s"})
		require.NoError(t, err)
		require.Len(t, got, 3)
		for i, k := range []string{"copy", "triad", "memcpy"} {
			assert.Equal(t, "gpu.memory.bandwidth", got[i].Name)
			assert.Equal(t, "By/s", got[i].Unit)
			// The fake moves 2e12 By/s; STREAM counting must give that back.
			assert.InEpsilon(t, 2e12, got[i].Value, 1e-4, k)
			assert.Equal(t, 3.35e12, got[i].Peak)
			assert.Equal(t, withDevice("bench.kernel", k, "bench.peak_source", "datasheet"), got[i].Attributes)
		}
	})
	t.Run("transfer", func(t *testing.T) {
		got, err := runConn(t, conn, "gpu.transfer", map[string]string{"size": "1MiB", "iterations": "3", "warmup": "0s"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		for i, d := range []string{"h2d", "d2h"} {
			assert.InEpsilon(t, 25e9, got[i].Value, 1e-4, d)
			assert.Zero(t, got[i].Peak)
			assert.Equal(t, withDevice("bench.direction", d), got[i].Attributes)
		}
	})
	t.Run("launch", func(t *testing.T) {
		got, err := runConn(t, conn, "gpu.launch", map[string]string{"iterations": "100", "warmup": "0s"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, withDevice("bench.mode", "roundtrip"), got[0].Attributes)
		assert.Greater(t, got[0].Value, 0.0)
		assert.Less(t, got[0].Value, 1e-3)
		assert.Equal(t, withDevice("bench.mode", "pipelined"), got[1].Attributes)
		assert.InEpsilon(t, 2e-6, got[1].Value, 1e-3)
	})
	t.Run("gemm", func(t *testing.T) {
		got, err := runConn(t, conn, "gpu.gemm", map[string]string{"m": "1024", "n": "2048", "k": "512",
			"iterations": "3", "warmup": "0s", "cublaslt": f.lib})
		require.NoError(t, err)
		require.Len(t, got, 4)
		peaks := map[string]float64{"bf16": 989.4e12, "fp16": 989.4e12, "tf32": 494.7e12, "fp8": 1978.9e12}
		for i, dt := range []string{"bf16", "fp16", "tf32", "fp8"} {
			assert.Equal(t, "gpu.gemm.flops", got[i].Name)
			assert.Equal(t, "{flop}/s", got[i].Unit)
			// The fake's second algorithm is the faster; the plugin must pick it.
			assert.InEpsilon(t, 600e12, got[i].Value, 1e-4, dt)
			assert.InDelta(t, peaks[dt], got[i].Peak, 1e6, dt)
			assert.Equal(t, withDevice("bench.dtype", dt, "bench.shape", "1024x2048x512", "cublaslt.version", "12.3.4",
				"bench.peak_source", "datasheet"), got[i].Attributes)
		}
	})
	t.Run("devices", func(t *testing.T) {
		got, err := runConn(t, conn, "gpu.launch", map[string]string{"iterations": "10", "warmup": "0s", "devices": "all"})
		require.NoError(t, err)
		assert.Len(t, got, 2)
		_, err = runConn(t, conn, "gpu.launch", map[string]string{"devices": "0,1"})
		assert.ErrorContains(t, err, "device 1 does not exist: the driver sees 1 device(s)")
	})
	t.Run("cublaslt missing", func(t *testing.T) {
		_, err := runConn(t, conn, "gpu.gemm", map[string]string{"cublaslt": "/nonexistent/libcublasLt.so.12"})
		// The fake was loaded as cuBLASLt above, and a process keeps the first.
		assert.ErrorContains(t, err, "cuBLASLt is already loaded from")
	})
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(b)), "\n"), 6, "a context per run that opened the device")
}

func TestFakeDriverFailures(t *testing.T) {
	f := buildFake(t)
	small := map[string]string{"size": "1MiB", "iterations": "2", "warmup": "0s"}
	cases := []struct {
		fail, bench, want string
		raw               map[string]string
	}{
		{"cuMemAlloc_v2", "gpu.memory", "device 0: cuMemAlloc_v2: out of memory (CUDA_ERROR_OUT_OF_MEMORY) (1048576 bytes on a device with 85899345920)", small},
		{"cuMemHostAlloc", "gpu.transfer", "cuMemHostAlloc: out of memory (CUDA_ERROR_OUT_OF_MEMORY)", small},
		{"cuLaunchKernel", "gpu.launch", "cuLaunchKernel(empty): out of memory", map[string]string{"warmup": "0s"}},
		{"cuModuleLoadDataEx", "gpu.memory", "cuModuleLoadDataEx: out of memory (CUDA_ERROR_OUT_OF_MEMORY) (driver 12.4)", small},
		{"cublasLtCreate", "gpu.gemm", "bf16: cublasLtCreate: CUBLAS_STATUS_NOT_SUPPORTED", map[string]string{"dtypes": "bf16"}},
		{"cublasLtMatmulAlgoGetHeuristic", "gpu.gemm", "fp8: cublasLtMatmulAlgoGetHeuristic: CUBLAS_STATUS_NOT_SUPPORTED", nil},
	}
	for _, c := range cases {
		t.Run(c.fail, func(t *testing.T) {
			conn, report := f.open(t, "FAKECUDA_FAIL="+c.fail)
			raw := map[string]string{}
			for k, v := range c.raw {
				raw[k] = v
			}
			if c.bench == "gpu.gemm" {
				raw["cublaslt"], raw["m"], raw["n"], raw["k"], raw["warmup"] = f.lib, "256", "256", "256", "0s"
			}
			got, err := runConn(t, conn, c.bench, raw)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Empty(t, got)
			assert.FileExists(t, report, "the failure came after the device was opened")
		})
	}
	t.Run("cuInit", func(t *testing.T) {
		conn, _ := f.open(t, "FAKECUDA_FAIL=cuInit")
		info, err := conn.Describe(context.Background())
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(info.Benchmarks[0].Description,
			"unavailable: cuInit: out of memory (CUDA_ERROR_OUT_OF_MEMORY). "), info.Benchmarks[0].Description)
	})
	t.Run("no fp8 before Ada", func(t *testing.T) {
		conn, _ := f.open(t, "FAKECUDA_CC=80")
		gemm := map[string]string{"m": "256", "n": "256", "k": "256", "iterations": "2", "warmup": "0s", "cublaslt": f.lib}
		got, err := runConn(t, conn, "gpu.gemm", gemm)
		require.NoError(t, err)
		require.Len(t, got, 3, "bf16, fp16, tf32: fp8 is skipped")
		gemm["dtypes"] = "fp8"
		_, err = runConn(t, conn, "gpu.gemm", gemm)
		assert.ErrorContains(t, err, "no requested GEMM type runs on NVIDIA H100 80GB HBM3 (compute capability 8.0): fp8 needs compute capability 8.9")
	})
}
