package ncclreceiver

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
		{id: "nccl", check: func(t *testing.T, c *Config) {
			assert.Equal(t, createDefaultConfig(), c)
		}},
		{id: "nccl/custom", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "/var/run/acceltel/nccl-job.sock", c.SocketPath)
			assert.Equal(t, "/hostfs", c.RootPath)
			assert.Equal(t, 30*time.Second, c.CollectionInterval)
			assert.Equal(t, time.Hour, c.ProcessTTL)
			assert.True(t, c.Histograms.OperationDuration)
			assert.False(t, c.Histograms.OperationBusBandwidth)
			assert.False(t, c.Metrics.NcclOperationBytes.Enabled)
			assert.False(t, c.Histograms.CollectiveCompletionSpread)
			assert.Equal(t, CompletionSpreadConfig{MaxWait: 5 * time.Second, MaxPending: 64}, c.CompletionSpread)
			assert.Equal(t, InspectorConfig{Directory: "/var/log/nccl-inspector", PollInterval: 2 * time.Second}, c.Inspector)
		}},
		{id: "nccl/inspector_relative", wantErr: `inspector::directory must be absolute, got "nccl-inspector"`},
		{id: "nccl/spread_zero", wantErr: "completion_spread::max_pending must be at least 1"},
		{id: "nccl/relative", wantErr: `socket_path must be an absolute path, got "run/nccl.sock"`},
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
