package infinibandreceiver // import "github.com/acceltel/acceltel/receivers/infinibandreceiver"

import (
	"errors"
	"fmt"
	"path/filepath"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/acceltel/acceltel/receivers/infinibandreceiver/internal/metadata"
)

// Config is the configuration of the infiniband receiver.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// RootPath is the host filesystem root, as in hostmetrics: "/hostfs" in a
	// DaemonSet that mounts the host's / there. sysfs is read at <root_path>/sys.
	RootPath string `mapstructure:"root_path"`

	// Devices limits the scrape to these HCAs (for example mlx5_0); empty means all.
	Devices []string `mapstructure:"devices"`

	// XmitWaitBytesPerTick is the data one port_xmit_wait tick stands for.
	// NVIDIA documents 8 bytes per tick per port for its current generation
	// (tick 7 in PortSamplesControl); older switches count 32 bytes per lane.
	XmitWaitBytesPerTick int `mapstructure:"xmit_wait_bytes_per_tick"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.RootPath != "" && !filepath.IsAbs(cfg.RootPath) {
		errs = append(errs, fmt.Errorf("root_path must be absolute, got %q", cfg.RootPath))
	}
	if cfg.XmitWaitBytesPerTick <= 0 {
		errs = append(errs, fmt.Errorf("xmit_wait_bytes_per_tick must be positive, got %d", cfg.XmitWaitBytesPerTick))
	}
	for _, d := range cfg.Devices {
		if d == "" || d != filepath.Base(d) {
			errs = append(errs, fmt.Errorf("devices: %q is not an HCA name", d))
		}
	}
	return errors.Join(errs...)
}
