package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/acceltel/acceltel/internal/anomaly"
	"github.com/acceltel/acceltel/processors/anomalyprocessor/internal/metadata"
)

// NewFactory returns the factory of the anomaly processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		Detectors:            defaultDetectors(),
		ScoreThreshold:       0.5,
		MaxSeries:            100000,
		StateTTL:             time.Hour,
	}
}

// Unmarshal fills each peer group's unset fields with the defaults, which
// mapstructure cannot do for list elements.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	d := anomaly.DefaultPeerConfig()
	for i := range c.PeerGroups {
		p := &c.PeerGroups[i]
		if p.Direction == "" {
			p.Direction = "both"
		}
		if p.Threshold == 0 {
			p.Threshold = d.Threshold
		}
		if p.MinRelative == 0 {
			p.MinRelative = d.MinRelative
		}
		if p.K == 0 {
			p.K = d.K
		}
		if p.N == 0 {
			p.N = d.N
		}
		if p.MinMembers == 0 {
			p.MinMembers = d.MinMembers
		}
	}
	return nil
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p := newProcessor(set, cfg.(*Config))
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
