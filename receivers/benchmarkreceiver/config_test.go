package benchmarkreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func load(t *testing.T, key string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(key)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigLoads(t *testing.T) {
	cfg := load(t, "benchmark/full")
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 10*time.Minute, cfg.Schedule.Interval)
	assert.Equal(t, "2", cfg.Benchmarks[0].params()["threads"], "numbers in YAML become text parameters")
	assert.Equal(t, map[string]string{"GOMAXPROCS": "4"}, cfg.Plugins["hostbench"].Env)
	assert.True(t, cfg.Plugins["mine"].InsecureSkipChecksum)
}

func TestConfigInvalid(t *testing.T) {
	err := load(t, "benchmark/invalid").Validate()
	require.Error(t, err)
	for _, want := range []string{
		"plugins::nosum: sha256 must be",
		"plugins::nopath: path is required",
		`benchmarks[0]: plugin "ghost" is not configured`,
		"benchmarks[1]: name is required",
		"jitter must be at least 0 and less than the interval",
	} {
		assert.ErrorContains(t, err, want)
	}
	assert.NoError(t, createDefaultConfig().(*Config).Validate())
}
