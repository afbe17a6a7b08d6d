package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"
)

// NewFactory returns the factory of the parallelism processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		Interval:             time.Minute,
		MinSamples:           10,
		Margin:               0.10,
		JobTTL:               10 * time.Minute,
		MaxJobs:              1000,
		StepWindow:           32,
		GPUsPerNode:          8,
		OverlapGradReduce:    true,
		MaxMicroBatch:        16,
		Calibration:          CalibrationConfig{Smoothing: 0.3, Min: 0.25, Max: 4, CommunicationShare: 0.25},
	}
}

// The processor appends its plan metrics to the batch it is given, so it
// mutates data.
var capabilities = consumer.Capabilities{MutatesData: true}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p := newProcessor(cfg.(*Config), set)
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(capabilities))
}
