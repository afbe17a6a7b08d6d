package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/plugins/sdk"
)

func run(t *testing.T, name string, raw map[string]string) []sdk.Measurement {
	t.Helper()
	info, err := hostbench{}.Describe(context.Background())
	require.NoError(t, err)
	b, ok := info.Find(name)
	require.True(t, ok)
	p, err := sdk.CheckParams(b, raw)
	require.NoError(t, err)
	var got []sdk.Measurement
	require.NoError(t, hostbench{}.Run(context.Background(), name, p, func(m sdk.Measurement) error {
		got = append(got, m)
		return nil
	}))
	return got
}

func TestStream(t *testing.T) {
	got := run(t, "memory.stream", map[string]string{"size": "4MiB", "duration": "40ms", "threads": "2"})
	require.Len(t, got, 4)
	for i, k := range []string{"copy", "scale", "add", "triad"} {
		assert.Equal(t, k, got[i].Attributes["bench.kernel"])
		assert.Equal(t, "By/s", got[i].Unit)
		// Any machine moves more than 10 MB/s and less than 10 TB/s.
		assert.Greater(t, got[i].Value, 1e7)
		assert.Less(t, got[i].Value, 1e13)
	}
}

func TestFMA(t *testing.T) {
	got := run(t, "cpu.fma", map[string]string{"duration": "50ms", "threads": "2"})
	require.Len(t, got, 2)
	assert.Equal(t, "1", got[0].Attributes["bench.threads"])
	assert.Zero(t, got[0].Peak)
	assert.Greater(t, got[0].Value, 1e7)
	assert.Equal(t, "2", got[1].Attributes["bench.threads"])
	assert.InDelta(t, 2*got[0].Value, got[1].Peak, 1)
}

func TestSmallSizeRefused(t *testing.T) {
	err := runStream(context.Background(), 64, 0, 4, func(sdk.Measurement) error { return nil })
	assert.ErrorContains(t, err, "too small")
}

func TestGEMM(t *testing.T) {
	got := run(t, "cpu.gemm", map[string]string{"n": "96", "duration": "20ms", "threads": "2"})
	require.Len(t, got, 1)
	assert.Equal(t, "gemm", got[0].Attributes["bench.kernel"])
	assert.Equal(t, "96", got[0].Attributes["bench.n"])
	assert.Greater(t, got[0].Value, 1e7)
}

// The tiled multiply is the plain one, for an edge that is not a multiple
// of the tile.
func TestGEMMCorrect(t *testing.T) {
	const n = 70
	a, b := make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i], b[i] = float64(i%11)-5, float64(i%13)/3
	}
	c := make([]float64, n*n)
	require.NoError(t, gemm(context.Background(), a, b, c, n, 3))
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var want float64
			for k := 0; k < n; k++ {
				want += a[i*n+k] * b[k*n+j]
			}
			require.InDelta(t, want, c[i*n+j], 1e-9, "c[%d][%d]", i, j)
		}
	}
}

func TestStorage(t *testing.T) {
	dir := t.TempDir()
	for _, direct := range []string{"true", "false"} {
		if direct == "true" {
			err := runStorage(context.Background(), dir, 1<<20, 1<<20, true, func(sdk.Measurement) error { return nil })
			if err != nil && strings.Contains(err.Error(), "does not support O_DIRECT") {
				t.Logf("%s: %v", dir, err) // a tmpfs TMPDIR: the clear error is the behaviour
				continue
			}
		}
		got := run(t, "storage.sequential", map[string]string{"path": dir, "size": "8MiB", "block": "1MiB", "direct": direct})
		require.Len(t, got, 2)
		for i, op := range []string{"write", "read"} {
			assert.Equal(t, op, got[i].Attributes["storage.operation"])
			assert.Equal(t, direct, got[i].Attributes["storage.direct"])
			assert.Equal(t, "By/s", got[i].Unit)
			assert.Greater(t, got[i].Value, 1e5)
		}
	}
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the test file is removed")
}

func TestStorageRefusesBadBlocks(t *testing.T) {
	emit := func(sdk.Measurement) error { return nil }
	assert.ErrorContains(t, runStorage(context.Background(), t.TempDir(), 1<<20, 1000, true, emit), "multiple of 4096")
	assert.ErrorContains(t, runStorage(context.Background(), t.TempDir(), 4096, 8192, true, emit), "smaller than one block")
	assert.ErrorContains(t, runStorage(context.Background(), "/nonexistent/dir", 1<<20, 1<<20, true, emit), "creating the test file")
}
