package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/acceltel/acceltel/receivers/ncclreceiver/internal/metadata"
)

// Config is the configuration of the nccl receiver. collection_interval is
// how often the aggregated records are emitted.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// SocketPath is the Unix datagram socket the profiler plugin sends to;
	// the plugin reads the same path from ACCELTEL_NCCL_SOCKET.
	SocketPath string `mapstructure:"socket_path"`

	// RootPath is the host filesystem root (as in hostmetrics); a sender's
	// cgroup is read at <root_path>/proc/<pid>/cgroup.
	RootPath string `mapstructure:"root_path"`

	// ProcessTTL forgets the series of a process that sent nothing for this
	// long, so finished jobs do not pile up.
	ProcessTTL time.Duration `mapstructure:"process_ttl"`

	// Histograms switches the histogram metrics that mdatagen cannot
	// generate (see metadata.yaml).
	Histograms HistogramsConfig `mapstructure:"histograms"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HistogramsConfig enables each histogram metric.
type HistogramsConfig struct {
	OperationDuration     bool `mapstructure:"operation_duration"`
	OperationBusBandwidth bool `mapstructure:"operation_bus_bandwidth"`
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if !filepath.IsAbs(cfg.SocketPath) {
		errs = append(errs, fmt.Errorf("socket_path must be an absolute path, got %q", cfg.SocketPath))
	} else if len(cfg.SocketPath) > 107 {
		errs = append(errs, fmt.Errorf("socket_path is %d bytes; a Unix socket path holds at most 107", len(cfg.SocketPath)))
	}
	if cfg.RootPath != "" && !filepath.IsAbs(cfg.RootPath) {
		errs = append(errs, fmt.Errorf("root_path must be absolute, got %q", cfg.RootPath))
	}
	if cfg.ProcessTTL <= 0 {
		errs = append(errs, fmt.Errorf("process_ttl must be positive, got %s", cfg.ProcessTTL))
	}
	return errors.Join(errs...)
}
