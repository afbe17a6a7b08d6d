package costprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.MustNewIDWithName("cost", name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigDefaults(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 5*time.Minute, cfg.MaxGap)
	assert.Equal(t, costmodel.OpenCostDefaultBasePrices, costmodel.BasePrices(cfg.BasePrices))
	assert.Nil(t, cfg.Storage)
	assert.Empty(t, cfg.Prices)
}

func TestConfigFull(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "file_storage/cost", cfg.Storage.String())
	assert.False(t, cfg.Metrics.AcceltelCostEnergy.Enabled)
	rules, err := cfg.rules()
	require.NoError(t, err)
	require.Len(t, rules, 4)
	// OpenCost's split of the instance price with its default base prices.
	b := costmodel.OpenCostDefaultBasePrices
	gpuShare := 8 * b.GPUPerGPUHour / (192*b.CPUPerVCPUHour + 2048*b.RAMPerGiBHour + 8*b.GPUPerGPUHour)
	assert.InDelta(t, 98.32*gpuShare/8, rules[0].PerGPUHour[costmodel.OnDemand], 1e-12)
	assert.InDelta(t, 31.46*gpuShare/8, rules[0].PerGPUHour[costmodel.CapacityBlock], 1e-12)
	assert.Equal(t, map[string]string{"host.type": "p5.48xlarge"}, rules[0].Match)
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), rules[1].Until)
	assert.InDelta(t, 15000/(4*8766.0), rules[3].PerGPUHour[costmodel.OnPrem], 1e-12)
	assert.InDelta(t, 0.12*1.3/3.6e6, rules[3].USDPerJoule, 1e-18)
}

func TestConfigOverlap(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "overlap"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "prices::0 (a) and prices::1 (b): overlapping effective dates")
}

func TestConfigErrors(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, want := range []string{
		"idle_utilization_threshold: must be within [0, 1]",
		`default_rate_kind: unknown rate kind "cheap"`,
		"prices::0: rates::on_demand: price must not be negative",
		"prices::0: rates::preemptible: unknown rate kind",
		"prices::1: give either rates or on_prem, not both",
		"prices::2: instance::gpus: must be positive",
		"prices::2: from (2025-02-01T00:00:00Z) must be before until (2025-01-01T00:00:00Z)",
		"prices::3: on_prem::lifetime_years: must be positive",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
