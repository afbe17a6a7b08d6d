package benchmarkreceiver // import "github.com/acceltel/acceltel/receivers/benchmarkreceiver"

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/acceltel/acceltel/receivers/benchmarkreceiver/internal/metadata"
)

// Config is the configuration of the benchmark receiver.
type Config struct {
	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// Plugins by the name the benchmarks refer to them with.
	Plugins map[string]PluginConfig `mapstructure:"plugins"`
	// Benchmarks run in this order, one at a time per plugin, since
	// concurrent benchmarks would measure each other.
	Benchmarks []BenchmarkConfig `mapstructure:"benchmarks"`
	Schedule   ScheduleConfig    `mapstructure:"schedule"`
	// Timeout bounds one run; a plugin that overruns it is killed and restarted.
	Timeout time.Duration `mapstructure:"timeout"`
	// StartTimeout bounds a plugin's start and handshake.
	StartTimeout   time.Duration `mapstructure:"start_timeout"`
	RestartBackoff BackoffConfig `mapstructure:"restart_backoff"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PluginConfig says where a plugin is and how to start it.
type PluginConfig struct {
	Path string `mapstructure:"path"`
	// SHA256 is the hex digest of the binary, required so that a replaced
	// binary is never run with the collector's privileges.
	SHA256 string `mapstructure:"sha256"`
	// SHA256File names a file holding the digest instead, as sha256sum
	// writes it (a lock file written when the plugin is built or
	// installed). It is read at each start of the plugin and must not be
	// writable by anyone but its owner, who must be root or the collector's
	// user: whoever can rewrite it can run any binary as the collector.
	SHA256File           string            `mapstructure:"sha256_file"`
	InsecureSkipChecksum bool              `mapstructure:"insecure_skip_checksum"`
	Args                 []string          `mapstructure:"args"`
	Env                  map[string]string `mapstructure:"env"`
}

// BenchmarkConfig is one scheduled benchmark.
type BenchmarkConfig struct {
	Plugin string `mapstructure:"plugin"`
	Name   string `mapstructure:"name"`
	// Parameters are passed to the plugin as text; YAML numbers and
	// booleans are accepted and written back the way Go prints them.
	Parameters map[string]any `mapstructure:"parameters"`
}

func (b BenchmarkConfig) params() map[string]string {
	out := make(map[string]string, len(b.Parameters))
	for k, v := range b.Parameters {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// ScheduleConfig says when benchmarks run.
type ScheduleConfig struct {
	Interval time.Duration `mapstructure:"interval"`
	// Jitter delays each round by a random part of it, so that a fleet's
	// nodes do not all benchmark (and load shared links) at the same moment.
	Jitter     time.Duration `mapstructure:"jitter"`
	RunAtStart bool          `mapstructure:"run_at_start"`
}

// BackoffConfig is the exponential backoff between restarts of a plugin.
type BackoffConfig struct {
	Initial time.Duration `mapstructure:"initial"`
	Max     time.Duration `mapstructure:"max"`
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		p := cfg.Plugins[name]
		if p.Path == "" {
			errs = append(errs, fmt.Errorf("plugins::%s: path is required", name))
		}
		switch {
		case p.SHA256 != "" && p.SHA256File != "":
			errs = append(errs, fmt.Errorf("plugins::%s: set sha256 or sha256_file, not both", name))
		case p.SHA256File != "" || p.InsecureSkipChecksum:
		default:
			if d, err := hex.DecodeString(p.SHA256); err != nil || len(d) != 32 {
				errs = append(errs, fmt.Errorf("plugins::%s: sha256 must be the binary's 64-hex-digit SHA-256 (or set sha256_file, or insecure_skip_checksum: true)", name))
			}
		}
	}
	for i, b := range cfg.Benchmarks {
		if _, ok := cfg.Plugins[b.Plugin]; !ok {
			errs = append(errs, fmt.Errorf("benchmarks[%d]: plugin %q is not configured under plugins", i, b.Plugin))
		}
		if b.Name == "" {
			errs = append(errs, fmt.Errorf("benchmarks[%d]: name is required", i))
		}
	}
	if cfg.Schedule.Interval <= 0 {
		errs = append(errs, errors.New("schedule::interval must be positive"))
	}
	if cfg.Schedule.Jitter < 0 || cfg.Schedule.Jitter >= cfg.Schedule.Interval {
		errs = append(errs, errors.New("schedule::jitter must be at least 0 and less than the interval"))
	}
	if cfg.Timeout <= 0 || cfg.StartTimeout <= 0 {
		errs = append(errs, errors.New("timeout and start_timeout must be positive"))
	}
	if cfg.RestartBackoff.Initial <= 0 || cfg.RestartBackoff.Max < cfg.RestartBackoff.Initial {
		errs = append(errs, errors.New("restart_backoff: initial must be positive and max at least initial"))
	}
	return errors.Join(errs...)
}
