package ebpfreceiver

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
		{id: "ebpf", check: func(t *testing.T, c *Config) {
			assert.Equal(t, createDefaultConfig(), c)
		}},
		{id: "ebpf/daemonset", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "/hostfs", c.RootPath)
			assert.Equal(t, 30*time.Second, c.CollectionInterval)
			assert.Equal(t, []string{"raw_tp"}, c.AttachMethods)
			assert.True(t, c.RunQueue.Enabled)
			assert.False(t, c.OffCPU.Enabled)
			assert.False(t, c.BlockIO.Enabled)
			assert.False(t, c.OnCPU.Enabled)
		}},
		{id: "ebpf/cgroup", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "/sys/fs/cgroup/unified", c.CgroupPath)
			assert.Equal(t, 50, c.MaxCgroups)
			assert.True(t, c.BlockIO.Enabled)
			assert.False(t, c.BlockIO.PerCgroup)
		}},
		{id: "ebpf/relative", wantErr: `root_path must be absolute, got "hostfs"`},
		{id: "ebpf/badmethod", wantErr: `attach_methods: unknown method "kprobe"`},
		{id: "ebpf/nomethod", wantErr: "attach_methods must name at least one"},
		{id: "ebpf/budget", wantErr: "max_cgroups must be at least 1, got 0"},
		{id: "ebpf/kernelcgroups", wantErr: "kernel_cgroups must be in [64, 65536], got 16"},
		{id: "ebpf/bigkernel", check: func(t *testing.T, c *Config) {
			assert.Equal(t, 4096, c.KernelCgroups)
		}},
		{id: "ebpf/nothing", wantErr: "enable at least one of runqueue, offcpu, oncpu, blockio, reclaim, migrations"},
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
