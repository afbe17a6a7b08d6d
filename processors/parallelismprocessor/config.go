// Package parallelismprocessor watches training jobs' own ml.* metrics,
// compares their measured step time with the layout planner's prediction for
// the layout they run, calibrates the planner per job and recommends a
// faster layout. See README.md for the conventions a job follows.
package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acceltel/acceltel/internal/planner"
	"github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"
)

// Config is the configuration of the parallelism processor.
type Config struct {
	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// Interval is how often each job is planned. Planning runs inside the
	// ConsumeMetrics call that first finds the interval elapsed, so a
	// pipeline that carries nothing plans nothing.
	Interval time.Duration `mapstructure:"interval"`
	// MinSamples is the fewest step samples (steps, counted from histogram
	// counts or gauge points) a job must have sent since its last plan.
	MinSamples int `mapstructure:"min_samples"`
	// Margin is how much faster (0.1 = 10%) the best layout must be predicted
	// to be before it is recommended.
	Margin float64 `mapstructure:"margin"`
	// JobTTL drops a job, and a host's hardware figures, not seen for this long.
	JobTTL time.Duration `mapstructure:"job_ttl"`
	// MaxJobs bounds the jobs tracked at once; further ones are ignored
	// (and logged once) until others expire.
	MaxJobs int `mapstructure:"max_jobs"`
	// StepWindow is how many recent step samples the measured step time is
	// the weighted median of.
	StepWindow int `mapstructure:"step_window"`

	// DefaultGPU names the GPU (a planner preset or an NVML name) of jobs that
	// neither send ml.job.gpu.model nor share the pipeline with a GPU
	// receiver reporting hw.model. Empty: such jobs are not planned.
	DefaultGPU string `mapstructure:"default_gpu"`
	// GPUsPerNode is used for jobs that do not send ml.job.node.gpu.count.
	GPUsPerNode int `mapstructure:"gpus_per_node"`
	// PricePerGPUHour, when > 0, prices a GPU-hour for
	// acceltel.plan.step.cost and ranks layouts by cost per step. Without
	// it, the cost processor's acceltel.cost.rate for the GPUs of the job's
	// hosts does, when that processor runs earlier in the pipeline.
	PricePerGPUHour float64 `mapstructure:"price_per_gpu_hour"`

	// OverlapGradReduce is what jobs that do not send
	// ml.train.overlap_grad_reduce are assumed to do (Megatron's
	// --overlap-grad-reduce).
	OverlapGradReduce bool `mapstructure:"overlap_grad_reduce"`
	// GradientBytes is gradient memory per parameter (0: 2 bytes, 16-bit
	// gradients; Megatron keeps 4 with bf16).
	GradientBytes float64 `mapstructure:"gradient_bytes"`
	// MaxMicroBatch bounds the micro-batch sizes the search tries.
	MaxMicroBatch int `mapstructure:"max_micro_batch"`
	// AllowCrossNodeTP lets recommended layouts span nodes with tensor
	// parallelism (a job's current layout is evaluated whatever it is).
	AllowCrossNodeTP bool `mapstructure:"allow_cross_node_tp"`

	Calibration CalibrationConfig `mapstructure:"calibration"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CalibrationConfig controls the per-job calibration factor, the smoothed
// ratio of measured to predicted step time.
type CalibrationConfig struct {
	// Smoothing is the weight of the newest ratio in the exponentially
	// weighted (log-space) average: 1 takes each interval's ratio as is.
	Smoothing float64 `mapstructure:"smoothing"`
	// Min and Max clamp the factor, so that a job whose measurements are
	// broken (a hung rank, a wrong layout attribute) cannot drag its
	// predictions arbitrarily far.
	Min float64 `mapstructure:"min"`
	Max float64 `mapstructure:"max"`
	// CommunicationShare is the predicted share of exposed communication in
	// the current layout's step from which the measured/predicted residual
	// is put on the communication factor instead of the compute factor
	// (unless NCCL bus bandwidths were measured for the job's hosts, which
	// already set the communication side).
	CommunicationShare float64 `mapstructure:"communication_share"`
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval must be positive, got %v", cfg.Interval))
	}
	if cfg.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("min_samples must be at least 1, got %d", cfg.MinSamples))
	}
	if cfg.Margin < 0 || cfg.Margin > 10 {
		errs = append(errs, fmt.Errorf("margin must be between 0 and 10 (a fraction: 0.1 is 10%%), got %g", cfg.Margin))
	}
	if cfg.JobTTL < cfg.Interval {
		errs = append(errs, fmt.Errorf("job_ttl (%v) must be at least the interval (%v), or jobs expire before they are planned", cfg.JobTTL, cfg.Interval))
	}
	if cfg.MaxJobs < 1 {
		errs = append(errs, fmt.Errorf("max_jobs must be at least 1, got %d", cfg.MaxJobs))
	}
	if cfg.StepWindow < 1 || cfg.StepWindow > 4096 {
		errs = append(errs, fmt.Errorf("step_window must be between 1 and 4096, got %d", cfg.StepWindow))
	}
	if cfg.DefaultGPU != "" {
		if _, ok := planner.GPUPresetForModel(cfg.DefaultGPU); !ok {
			errs = append(errs, fmt.Errorf("default_gpu %q is not a known GPU (presets: %s)", cfg.DefaultGPU, strings.Join(planner.GPUPresetNames(), ", ")))
		}
	}
	if cfg.GPUsPerNode < 1 {
		errs = append(errs, fmt.Errorf("gpus_per_node must be at least 1, got %d", cfg.GPUsPerNode))
	}
	if cfg.PricePerGPUHour < 0 {
		errs = append(errs, fmt.Errorf("price_per_gpu_hour must not be negative, got %g", cfg.PricePerGPUHour))
	}
	if cfg.GradientBytes < 0 {
		errs = append(errs, fmt.Errorf("gradient_bytes must not be negative, got %g", cfg.GradientBytes))
	}
	if cfg.MaxMicroBatch < 1 {
		errs = append(errs, fmt.Errorf("max_micro_batch must be at least 1, got %d", cfg.MaxMicroBatch))
	}
	c := cfg.Calibration
	if !(c.Smoothing > 0 && c.Smoothing <= 1) {
		errs = append(errs, fmt.Errorf("calibration::smoothing must be in (0, 1], got %g", c.Smoothing))
	}
	if !(c.Min > 0 && c.Min <= 1 && c.Max >= 1) {
		errs = append(errs, fmt.Errorf("calibration needs 0 < min <= 1 <= max, got min %g, max %g", c.Min, c.Max))
	}
	if !(c.CommunicationShare > 0 && c.CommunicationShare <= 1) {
		errs = append(errs, fmt.Errorf("calibration::communication_share must be in (0, 1], got %g", c.CommunicationShare))
	}
	return errors.Join(errs...)
}
