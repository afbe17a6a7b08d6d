package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/acceltel/acceltel/connectors/anomalyconnector/internal/metadata"
)

// NewFactory returns the factory of the anomaly connector (metrics → logs).
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithMetricsToLogs(createMetricsToLogs, metadata.MetricsToLogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Detectors:      defaultDetectors(),
		ScoreThreshold: 0.5,
		ClearAfter:     5,
		MaxSeries:      100000,
		StateTTL:       time.Hour,
	}
}

func createMetricsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	return newConnector(set, cfg.(*Config), next), nil
}
