package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"errors"
	"fmt"
	"path/filepath"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

// Attach methods, in the order the receiver tries them by default.
const (
	methodTPBTF = "tp_btf"
	methodRawTP = "raw_tp"
)

// SignalConfig switches one family of BPF measurements.
type SignalConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// BlockIOConfig switches block IO latency per disk, and also per cgroup of
// the task that issued the request.
type BlockIOConfig struct {
	Enabled   bool `mapstructure:"enabled"`
	PerCgroup bool `mapstructure:"per_cgroup"`
}

// Bounds of kernel_cgroups: below 64 a busy host drops samples at once;
// 65536 cgroups take 300 MiB of kernel memory.
const (
	minKernelCgroups = 64
	maxKernelCgroups = 65536
)

// Config is the configuration of the ebpf receiver.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// RootPath is the host filesystem root, as in hostmetrics ("/hostfs" in a
	// DaemonSet); the cgroup2 mount is looked up in <root_path>/proc/1/mounts.
	RootPath string `mapstructure:"root_path"`

	// CgroupPath is the cgroup v2 mount; empty means found in the mount table,
	// since hybrid hosts mount it at /sys/fs/cgroup/unified.
	CgroupPath string `mapstructure:"cgroup_path"`

	// AttachMethods are tried in order for each program. A classic tracepoint
	// is not offered: it passes pids, not task pointers, so the next task's
	// cgroup cannot be read from it.
	AttachMethods []string `mapstructure:"attach_methods"`

	RunQueue SignalConfig  `mapstructure:"runqueue"`
	OffCPU   SignalConfig  `mapstructure:"offcpu"`
	OnCPU    SignalConfig  `mapstructure:"oncpu"`
	BlockIO  BlockIOConfig `mapstructure:"blockio"`
	// Reclaim is the time tasks stall in direct or memcg memory reclaim.
	Reclaim SignalConfig `mapstructure:"reclaim"`
	// Migrations counts tasks moved between CPUs, within and across NUMA nodes.
	Migrations SignalConfig `mapstructure:"migrations"`

	// MaxCgroups is the cardinality budget: per scrape, the cgroups with the
	// most events since the previous scrape get their own series, and the rest
	// are added up under one resource with acceltel.cgroup.path "other".
	MaxCgroups int `mapstructure:"max_cgroups"`

	// KernelCgroups sizes the kernel maps: the cgroups whose scheduler
	// signals are kept (about 4.7 KiB each, preallocated), and twice that
	// many (cgroup, operation) block IO series (1.2 KiB each). Samples of
	// cgroups beyond it are counted in acceltel.ebpf.hist.dropped.
	KernelCgroups int `mapstructure:"kernel_cgroups"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.RootPath != "" && !filepath.IsAbs(cfg.RootPath) {
		errs = append(errs, fmt.Errorf("root_path must be absolute, got %q", cfg.RootPath))
	}
	if cfg.CgroupPath != "" && !filepath.IsAbs(cfg.CgroupPath) {
		errs = append(errs, fmt.Errorf("cgroup_path must be absolute, got %q", cfg.CgroupPath))
	}
	if len(cfg.AttachMethods) == 0 {
		errs = append(errs, errors.New("attach_methods must name at least one of tp_btf, raw_tp"))
	}
	seen := map[string]bool{}
	for _, m := range cfg.AttachMethods {
		if m != methodTPBTF && m != methodRawTP {
			errs = append(errs, fmt.Errorf("attach_methods: unknown method %q (want tp_btf or raw_tp)", m))
		}
		if seen[m] {
			errs = append(errs, fmt.Errorf("attach_methods: %q listed twice", m))
		}
		seen[m] = true
	}
	if cfg.KernelCgroups < minKernelCgroups || cfg.KernelCgroups > maxKernelCgroups {
		errs = append(errs, fmt.Errorf("kernel_cgroups must be in [%d, %d], got %d", minKernelCgroups, maxKernelCgroups, cfg.KernelCgroups))
	}
	if cfg.MaxCgroups < 1 {
		errs = append(errs, fmt.Errorf("max_cgroups must be at least 1, got %d", cfg.MaxCgroups))
	}
	if !cfg.RunQueue.Enabled && !cfg.OffCPU.Enabled && !cfg.OnCPU.Enabled && !cfg.BlockIO.Enabled &&
		!cfg.Reclaim.Enabled && !cfg.Migrations.Enabled {
		errs = append(errs, errors.New("enable at least one of runqueue, offcpu, oncpu, blockio, reclaim, migrations"))
	}
	return errors.Join(errs...)
}
