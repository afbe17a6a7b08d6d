package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/acceltel/acceltel/receivers/ncclreceiver/internal/metadata"
)

// DefaultSocketPath is where the plugin sends when ACCELTEL_NCCL_SOCKET is unset.
const DefaultSocketPath = "/run/acceltel/nccl.sock"

// NewFactory returns the factory of the nccl receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.CollectionInterval = 10 * time.Second
	return &Config{
		ControllerConfig:     cc,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		SocketPath:           DefaultSocketPath,
		RootPath:             "/",
		ProcessTTL:           10 * time.Minute,
		Histograms:           HistogramsConfig{OperationDuration: true, OperationBusBandwidth: true, CollectiveCompletionSpread: true},
		CompletionSpread:     CompletionSpreadConfig{MaxWait: defaultSpreadMaxWait, MaxPending: defaultSpreadMaxPending},
		Inspector:            InspectorConfig{PollInterval: time.Second},
	}
}

// The receiver is push-fed, but the scraper controller gives it the
// collection interval, timestamps and lifecycle of every other receiver here:
// records are aggregated as they arrive and emitted at each "scrape".
func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	r := newNCCLReceiver(c, set)
	sc, err := scraper.NewMetrics(r.scrape, scraper.WithStart(r.start), scraper.WithShutdown(r.shutdown))
	if err != nil {
		return nil, err
	}
	return scraperhelper.NewMetricsController(&c.ControllerConfig, set, next,
		scraperhelper.AddMetricsScraper(metadata.Type, sc))
}
