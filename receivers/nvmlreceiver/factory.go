package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"context"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// NewFactory returns the factory of the nvml receiver.
func NewFactory() receiver.Factory {
	return newFactory(openLibrary)
}

// newFactory lets tests put a mocked NVML behind the real factory.
func newFactory(open func(string) nvml.Interface) receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
			return createMetrics(set, cfg.(*Config), next, open)
		}, metadata.MetricsStability),
		receiver.WithLogs(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
			r := sharedReceiver(cfg.(*Config), set, open)
			r.mu.Lock()
			defer r.mu.Unlock()
			if err := r.s.setLogs(next); err != nil {
				return nil, err
			}
			return r, nil
		}, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.CollectionInterval = 10 * time.Second
	return &Config{
		ControllerConfig:     cc,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		XIDEvents:            true,
		RootPath:             "/",
		PodResourcesSocket:   "/var/lib/kubelet/pod-resources/kubelet.sock",
	}
}

// createMetrics puts a scrape controller on the shared receiver; NVML is
// opened and closed by the shared receiver, not by the scraper.
func createMetrics(set receiver.Settings, cfg *Config, next consumer.Metrics, open func(string) nvml.Interface) (receiver.Metrics, error) {
	r := sharedReceiver(cfg, set, open)
	sc, err := scraper.NewMetrics(r.s.scrape)
	if err != nil {
		return nil, err
	}
	ctrl, err := scraperhelper.NewMetricsController(&cfg.ControllerConfig, set, next,
		scraperhelper.AddMetricsScraper(metadata.Type, sc))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = ctrl
	return r, nil
}
