package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/acceltel/acceltel/connectors/anomalyconnector/internal/metadata"
	"github.com/acceltel/acceltel/internal/anomalyconfig"
)

// NewFactory returns the factory of the anomaly connector (metrics → logs).
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithMetricsToLogs(createMetricsToLogs, metadata.MetricsToLogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Watch: anomalyconfig.Watch{
			Detectors:          anomalyconfig.DefaultDetectors(),
			HistogramStatistic: "mean",
			ScoreThreshold:     0.5,
			MaxSeries:          100000,
			StateTTL:           time.Hour,
		},
		ClearAfter: 5,
	}
}

func createMetricsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	return newConnector(set, cfg.(*Config), next), nil
}
