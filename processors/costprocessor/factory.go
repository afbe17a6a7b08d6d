package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
	"github.com/acceltel/acceltel/processors/costprocessor/internal/metadata"
)

// NewFactory returns the factory of the cost processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		MetricsBuilderConfig:     metadata.NewDefaultMetricsBuilderConfig(),
		IdleUtilizationThreshold: 0.05,
		MaxGap:                   5 * time.Minute,
		CheckpointInterval:       30 * time.Second,
		StateTTL:                 24 * time.Hour,
		InstanceTypeAttribute:    "host.type",
		DefaultRateKind:          string(costmodel.OnDemand),
		BasePrices:               BasePricesConfig(costmodel.OpenCostDefaultBasePrices),
		DefaultMIGSlices:         7,
	}
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newCostProcessor(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
