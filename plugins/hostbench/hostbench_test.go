package main

import (
	"context"
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
