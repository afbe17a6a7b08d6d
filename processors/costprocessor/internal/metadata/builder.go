package metadata

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
)

// NewMetricsBuilder is written by hand: mdatagen v0.158.0 generates the
// MetricsBuilder and its tests for a processor, but the constructor only for
// receivers, scrapers and connectors, so without this the generated tests
// would not compile. It mirrors the generated constructor of a receiver;
// delete it if a later mdatagen generates one.
func NewMetricsBuilder(mbc MetricsBuilderConfig, settings processor.Settings, options ...MetricBuilderOption) *MetricsBuilder {
	mb := &MetricsBuilder{
		config:                             mbc,
		startTime:                          pcommon.NewTimestampFromTime(time.Now()),
		metricsBuffer:                      pmetric.NewMetrics(),
		buildInfo:                          settings.BuildInfo,
		metricAcceltelCostAllocated:        newMetricAcceltelCostAllocated(mbc.Metrics.AcceltelCostAllocated),
		metricAcceltelCostEnergy:           newMetricAcceltelCostEnergy(mbc.Metrics.AcceltelCostEnergy),
		metricAcceltelCostIdle:             newMetricAcceltelCostIdle(mbc.Metrics.AcceltelCostIdle),
		metricAcceltelCostPerMillionTokens: newMetricAcceltelCostPerMillionTokens(mbc.Metrics.AcceltelCostPerMillionTokens),
		metricAcceltelCostPerPflop:         newMetricAcceltelCostPerPflop(mbc.Metrics.AcceltelCostPerPflop),
		metricAcceltelCostRate:             newMetricAcceltelCostRate(mbc.Metrics.AcceltelCostRate),
		metricAcceltelCostUnpriced:         newMetricAcceltelCostUnpriced(mbc.Metrics.AcceltelCostUnpriced),
	}
	for _, op := range options {
		op.apply(mb)
	}
	return mb
}
