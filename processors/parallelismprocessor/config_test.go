package parallelismprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      string
		check   func(*testing.T, *Config)
		wantErr string
	}{
		{id: "parallelism", check: func(t *testing.T, c *Config) {
			assert.Equal(t, createDefaultConfig(), c)
			assert.Equal(t, time.Minute, c.Interval)
			assert.InDelta(t, 0.10, c.Margin, 0)
		}},
		{id: "parallelism/gateway", check: func(t *testing.T, c *Config) {
			assert.Equal(t, 30*time.Second, c.Interval)
			assert.Equal(t, 5, c.MinSamples)
			assert.InDelta(t, 0.2, c.Margin, 0)
			assert.Equal(t, 5*time.Minute, c.JobTTL)
			assert.Equal(t, 50, c.MaxJobs)
			assert.Equal(t, 16, c.StepWindow)
			assert.Equal(t, "NVIDIA H100 80GB HBM3", c.DefaultGPU)
			assert.Equal(t, 4, c.GPUsPerNode)
			assert.InDelta(t, 2.5, c.PricePerGPUHour, 0)
			assert.False(t, c.OverlapGradReduce)
			assert.InDelta(t, 4.0, c.GradientBytes, 0)
			assert.Equal(t, 8, c.MaxMicroBatch)
			assert.True(t, c.AllowCrossNodeTP)
			assert.Equal(t, CalibrationConfig{Smoothing: 0.5, Min: 0.5, Max: 2, CommunicationShare: 0.25}, c.Calibration)
			assert.False(t, c.Metrics.AcceltelPlanStepCost.Enabled)
			assert.True(t, c.Metrics.AcceltelPlanRecommendation.Enabled)
			assert.False(t, c.ResourceAttributes.K8sNamespaceName.Enabled)
		}},
		{id: "parallelism/nointerval", wantErr: "interval must be positive, got 0s"},
		{id: "parallelism/shortttl", wantErr: "job_ttl (1m0s) must be at least the interval (2m0s)"},
		{id: "parallelism/badgpu", wantErr: `default_gpu "tpu-v5" is not a known GPU`},
		{id: "parallelism/badcalibration", wantErr: "calibration::smoothing must be in (0, 1], got 0"},
		{id: "parallelism/badcalibration", wantErr: "calibration needs 0 < min <= 1 <= max, got min 2, max 0.5"},
		{id: "parallelism/badmargin", wantErr: "margin must be between 0 and 10"},
		{id: "parallelism/badprice", wantErr: "price_per_gpu_hour must not be negative, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id)
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}
