package benchmarkreceiver // import "github.com/acceltel/acceltel/receivers/benchmarkreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/acceltel/acceltel/receivers/benchmarkreceiver/internal/metadata"
)

// NewFactory returns the factory of the benchmark receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		// Benchmarks load the machine they measure: hourly, spread by jitter.
		Schedule:       ScheduleConfig{Interval: time.Hour, Jitter: 5 * time.Minute, RunAtStart: true},
		Timeout:        10 * time.Minute,
		StartTimeout:   30 * time.Second,
		RestartBackoff: BackoffConfig{Initial: time.Second, Max: 5 * time.Minute},
	}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(cfg.(*Config), set, next), nil
}
