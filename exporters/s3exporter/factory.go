package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
)

// Defaults sized for large objects: columnar files compress and scan well
// from about a hundred thousand rows, and object stores charge per request.
const (
	defaultFlushTimeout = 60 * time.Second
	defaultBatchMin     = 100_000 // data points or log records
	defaultBatchMax     = 250_000
	defaultQueueSize    = 1_000_000
	defaultConsumers    = 4
	defaultTimeout      = 2 * time.Minute
	defaultPartSize     = 16 << 20
)

// NewFactory returns the factory of the s3 exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: defaultTimeout},
		QueueConfig:   configoptional.Some(defaultQueueConfig()),
		RetryConfig:   defaultRetryConfig(),
		S3Config: S3Config{
			TLS:               configtls.NewDefaultClientConfig(),
			MultipartPartSize: defaultPartSize,
			UploadConcurrency: 4,
		},
		Partition:   defaultPartition,
		Format:      formatParquet,
		Compression: compressionZstd,
	}
}

// defaultQueueConfig counts data points (items), not requests, so that the
// batch bounds are object sizes; the queue holds ten full batches.
func defaultQueueConfig() exporterhelper.QueueBatchConfig {
	q := exporterhelper.NewDefaultQueueConfig()
	q.Sizer = exporterhelper.RequestSizerTypeItems
	q.QueueSize = defaultQueueSize
	q.NumConsumers = defaultConsumers
	b := exporterhelper.NewDefaultBatchConfig()
	b.Sizer = exporterhelper.RequestSizerTypeItems
	b.FlushTimeout = defaultFlushTimeout
	b.MinSize = defaultBatchMin
	b.MaxSize = defaultBatchMax
	q.Batch = configoptional.Some(b)
	return q
}

// defaultRetryConfig retries until the write succeeds: the failures that
// last (permissions, a missing bucket, an outage) are fixed by an operator,
// and the data should still be there when they are. Malformed data is not
// retried (permanent errors).
func defaultRetryConfig() configretry.BackOffConfig {
	r := configretry.NewDefaultBackOffConfig()
	r.MaxInterval = time.Minute
	r.MaxElapsedTime = 0
	return r
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e, err := newS3Exporter(c, set, signalMetrics)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics, helperOptions(c, e)...)
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newS3Exporter(c, set, signalLogs)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs, helperOptions(c, e)...)
}

func helperOptions(c *Config, e *s3Exporter) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	}
}
