package sdk_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acceltel/acceltel/plugins/plugintest"
	"github.com/acceltel/acceltel/plugins/sdk"
)

// The README's plugin must be exactly the example that is built and run here.
func TestReadmeExampleIsTheBuiltOne(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(readme), "```go\n")
	require.True(t, ok, "README has no go block")
	block, _, _ = strings.Cut(block, "```")
	src, err := os.ReadFile("internal/readmeexample/main.go")
	require.NoError(t, err)
	assert.Equal(t, string(src), block)
	assert.Less(t, strings.Count(block, "\n"), 60)
}

func TestReadmeExampleRuns(t *testing.T) {
	bin, sum := plugintest.Build(t, "github.com/acceltel/acceltel/plugins/sdk/internal/readmeexample")
	c, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum})
	require.NoError(t, err)
	defer c.Kill()
	ctx := context.Background()
	info, err := c.Describe(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hello", info.Name)
	require.Len(t, info.Benchmarks, 1)
	assert.Equal(t, sdk.Duration, info.Benchmarks[0].Parameters[0].Type)

	var got []sdk.Measurement
	require.NoError(t, c.Run(ctx, "sleep.accuracy", map[string]string{"sleep": "20ms"}, func(m sdk.Measurement) { got = append(got, m) }))
	require.Len(t, got, 1)
	assert.Equal(t, "s", got[0].Unit)
	assert.GreaterOrEqual(t, got[0].Value, 0.020)
	assert.Equal(t, "20ms", got[0].Attributes["requested"])

	// The plugin checks parameters itself, whatever the host sent.
	err = c.Run(ctx, "sleep.accuracy", map[string]string{"sleep": "soon"}, func(sdk.Measurement) {})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	err = c.Run(ctx, "nope", nil, func(sdk.Measurement) {})
	assert.Equal(t, codes.NotFound, status.Code(err))
}

func TestOpenRefuses(t *testing.T) {
	bin, sum := plugintest.Build(t, plugintest.Misbehave)
	wrong := strings.Repeat("0", 64)

	_, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: wrong})
	require.ErrorIs(t, err, sdk.ErrChecksum)
	assert.ErrorContains(t, err, sum)

	_, err = sdk.Open(sdk.HostConfig{Path: bin})
	assert.ErrorContains(t, err, "sha256 must be 64 hex digits")

	_, err = sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum, Env: []string{"MISBEHAVE_MODE=protocol2"}})
	assert.ErrorContains(t, err, "incompatible API version")

	_, err = sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum, Env: []string{"MISBEHAVE_MODE=garbage"}, StartTimeout: 5 * time.Second})
	assert.Error(t, err)
}

func TestHangAndCrash(t *testing.T) {
	bin, _ := plugintest.Build(t, plugintest.Misbehave)
	c, err := sdk.Open(sdk.HostConfig{Path: bin, InsecureSkipChecksum: true})
	require.NoError(t, err)
	defer c.Kill()

	// A hung Run returns at the caller's deadline, whatever the plugin does.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Run(ctx, "hang", nil, func(sdk.Measurement) {})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Less(t, time.Since(start), 5*time.Second)

	n := 0
	err = c.Run(context.Background(), "crash", nil, func(sdk.Measurement) { n++ })
	require.Error(t, err)
	assert.Equal(t, 1, n, "the measurement sent before the crash arrives")
	assert.Eventually(t, c.Exited, 5*time.Second, 10*time.Millisecond)
}

func TestCheckParams(t *testing.T) {
	b := sdk.Benchmark{Name: "b", Parameters: []sdk.Parameter{
		{Name: "size", Type: sdk.Bytes, Default: "1KiB"}, {Name: "n", Type: sdk.Int}, {Name: "on", Type: sdk.Bool, Default: "true"},
	}}
	p, err := sdk.CheckParams(b, map[string]string{"n": "7"})
	require.NoError(t, err)
	assert.Equal(t, int64(1024), p.Bytes("size"))
	assert.Equal(t, int64(7), p.Int("n"))
	assert.True(t, p.Bool("on"))
	for _, bad := range []map[string]string{{"n": "x"}, {"size": "-1"}, {"size": "3 parsecs"}, {"other": "1"}} {
		_, err := sdk.CheckParams(b, bad)
		assert.Error(t, err, "%v", bad)
	}
	// Of several bad keys the least is named, whatever the map's order.
	for range 20 {
		_, err = sdk.CheckParams(b, map[string]string{"zz": "1", "size": "x", "n": "x"})
		require.ErrorContains(t, err, "parameter n:")
	}
	v, err := sdk.ParseBytes("2GB")
	require.NoError(t, err)
	assert.Equal(t, int64(2e9), v)
}
