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

	// AllowedUIDs, when set, accepts datagrams only from these users. The
	// socket is world-writable because jobs run as many users; the uid is the
	// kernel's (SCM_CREDENTIALS), so a sender cannot claim another's.
	AllowedUIDs []uint32 `mapstructure:"allowed_uids"`

	// RootPath is the host filesystem root (as in hostmetrics); a sender's
	// cgroup is read at <root_path>/proc/<pid>/cgroup.
	RootPath string `mapstructure:"root_path"`

	// ProcessTTL forgets the series of a process that sent nothing for this
	// long, so finished jobs do not pile up.
	ProcessTTL time.Duration `mapstructure:"process_ttl"`

	// Histograms switches the histogram metrics that mdatagen cannot
	// generate (see metadata.yaml).
	Histograms HistogramsConfig `mapstructure:"histograms"`

	// CompletionSpread bounds the tracker of completion times per
	// collective sequence number across the local ranks of a communicator.
	CompletionSpread CompletionSpreadConfig `mapstructure:"completion_spread"`

	// Inspector, when its directory is set, tails NCCL Inspector JSON Lines
	// files besides listening on the socket.
	Inspector InspectorConfig `mapstructure:"inspector"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HistogramsConfig enables each histogram metric.
type HistogramsConfig struct {
	OperationDuration     bool `mapstructure:"operation_duration"`
	OperationBusBandwidth bool `mapstructure:"operation_bus_bandwidth"`
	// CollectiveCompletionSpread enables nccl.collective.completion.spread.
	CollectiveCompletionSpread bool `mapstructure:"collective_completion_spread"`
}

// CompletionSpreadConfig bounds the completion-spread tracker.
type CompletionSpreadConfig struct {
	// MaxWait is how long a sequence number waits for the ranks that have
	// not reported it before it is closed with those that have.
	MaxWait time.Duration `mapstructure:"max_wait"`
	// MaxPending caps the open sequence numbers per communicator and
	// collective; beyond it the oldest is dropped and counted.
	MaxPending int `mapstructure:"max_pending"`
}

// InspectorConfig is the NCCL Inspector file tailer.
type InspectorConfig struct {
	// Directory holds the Inspector's output (NCCL_INSPECTOR_DUMP_DIR);
	// empty disables the tailer. Its *.log and *.jsonl files are read.
	Directory string `mapstructure:"directory"`
	// PollInterval is how often the directory and its files are read.
	PollInterval time.Duration `mapstructure:"poll_interval"`
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
	if cfg.CompletionSpread.MaxWait <= 0 {
		errs = append(errs, fmt.Errorf("completion_spread::max_wait must be positive, got %s", cfg.CompletionSpread.MaxWait))
	}
	if cfg.CompletionSpread.MaxPending < 1 {
		errs = append(errs, fmt.Errorf("completion_spread::max_pending must be at least 1, got %d", cfg.CompletionSpread.MaxPending))
	}
	if cfg.Inspector.Directory != "" {
		if !filepath.IsAbs(cfg.Inspector.Directory) {
			errs = append(errs, fmt.Errorf("inspector::directory must be absolute, got %q", cfg.Inspector.Directory))
		}
		if cfg.Inspector.PollInterval <= 0 {
			errs = append(errs, fmt.Errorf("inspector::poll_interval must be positive, got %s", cfg.Inspector.PollInterval))
		}
	}
	return errors.Join(errs...)
}
