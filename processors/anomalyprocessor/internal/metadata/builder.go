package metadata

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
)

// NewMetricsBuilder is written by hand: mdatagen v0.158.0 generates the
// MetricsBuilder and a test that calls this constructor for a processor, but
// the constructor only for receivers, scrapers and connectors. It mirrors the
// generated constructor of a receiver; a metric added to metadata.yaml must be
// added here too (the generated all_set test counts them). The processor
// itself writes pmetric directly, because its data points carry the watched
// series' own attributes, which the builder's fixed signatures cannot.
func NewMetricsBuilder(mbc MetricsBuilderConfig, settings processor.Settings, options ...MetricBuilderOption) *MetricsBuilder {
	mb := &MetricsBuilder{
		config:                         mbc,
		startTime:                      pcommon.NewTimestampFromTime(time.Now()),
		metricsBuffer:                  pmetric.NewMetrics(),
		buildInfo:                      settings.BuildInfo,
		metricAcceltelAnomalyEvents:    newMetricAcceltelAnomalyEvents(mbc.Metrics.AcceltelAnomalyEvents),
		metricAcceltelAnomalyFlag:      newMetricAcceltelAnomalyFlag(mbc.Metrics.AcceltelAnomalyFlag),
		metricAcceltelAnomalyScore:     newMetricAcceltelAnomalyScore(mbc.Metrics.AcceltelAnomalyScore),
		metricAcceltelAnomalyStraggler: newMetricAcceltelAnomalyStraggler(mbc.Metrics.AcceltelAnomalyStraggler),
	}
	for _, op := range options {
		op.apply(mb)
	}
	return mb
}
