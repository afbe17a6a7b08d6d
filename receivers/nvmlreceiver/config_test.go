package nvmlreceiver

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
		{id: "nvml", check: func(t *testing.T, c *Config) {
			assert.Equal(t, createDefaultConfig(), c)
		}},
		{id: "nvml/custom", check: func(t *testing.T, c *Config) {
			assert.Equal(t, time.Second, c.CollectionInterval)
			assert.Equal(t, "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", c.LibraryPath)
			assert.Equal(t, []string{"GPU-8a3c5f2e-0000-4000-8000-000000000001", "3"}, c.Devices)
			assert.False(t, c.XIDEvents)
			assert.Equal(t, "/hostfs", c.RootPath)
			assert.False(t, c.Metrics.NvidiaGpuNvlinkIo.Enabled)
		}},
		{id: "nvml/relative", wantErr: `library_path must be absolute, got "libnvidia-ml.so.1"`},
		{id: "nvml/badroot", wantErr: `root_path must be absolute, got "hostfs"`},
		{id: "nvml/baddevice", wantErr: `devices: "gpu0" is neither a GPU UUID nor an index`},
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
