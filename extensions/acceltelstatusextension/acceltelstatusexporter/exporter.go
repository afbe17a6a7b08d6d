package acceltelstatusexporter // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension/acceltelstatusexporter"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/extensions/acceltelstatusextension"
	"github.com/acceltel/acceltel/extensions/acceltelstatusextension/acceltelstatusexporter/internal/metadata"
)

// NewFactory returns the factory of the acceltelstatus exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type,
		func() component.Config {
			return &Config{Extension: component.MustNewID("acceltelstatus")}
		},
		exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func errWrongType(id component.ID) error {
	return fmt.Errorf("extension %q is not an acceltelstatus extension", id)
}

type feed struct {
	cfg  *Config
	sink acceltelstatusextension.MetricsSink
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	f := &feed{cfg: cfg.(*Config)}
	// No queue and no retries: the extension takes a batch in memory and
	// cannot fail, and a status page has no use for old data.
	return exporterhelper.NewMetrics(ctx, set, cfg, f.push,
		exporterhelper.WithStart(f.start),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}))
}

// start finds the extension among the host's; without it the collector
// does not start, with a message saying what to add.
func (f *feed) start(_ context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[f.cfg.Extension]
	if !ok {
		return fmt.Errorf("the acceltelstatus exporter feeds extension %q, which is not enabled: add it to extensions and to service::extensions", f.cfg.Extension)
	}
	sink, ok := ext.(acceltelstatusextension.MetricsSink)
	if !ok {
		return errWrongType(f.cfg.Extension)
	}
	f.sink = sink
	return nil
}

func (f *feed) push(ctx context.Context, md pmetric.Metrics) error {
	return f.sink.ConsumeStatusMetrics(ctx, md)
}
