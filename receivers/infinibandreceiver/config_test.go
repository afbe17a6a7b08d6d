package infinibandreceiver

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
		{id: "infiniband", check: func(t *testing.T, c *Config) {
			assert.Equal(t, createDefaultConfig(), c)
		}},
		{id: "infiniband/daemonset", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "/hostfs", c.RootPath)
			assert.Equal(t, []string{"mlx5_0", "mlx5_1"}, c.Devices)
			assert.Equal(t, 30*time.Second, c.CollectionInterval)
			assert.Equal(t, 32, c.XmitWaitBytesPerTick)
			assert.False(t, c.Metrics.InfinibandPortHwCounter.Enabled)
		}},
		{id: "infiniband/relative", wantErr: `root_path must be absolute, got "hostfs"`},
		{id: "infiniband/badtick", wantErr: "xmit_wait_bytes_per_tick must be positive, got 0"},
		{id: "infiniband/baddevice", wantErr: `devices: "../mlx5_0" is not an HCA name`},
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
