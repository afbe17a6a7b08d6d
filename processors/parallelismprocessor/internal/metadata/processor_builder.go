package metadata // import "github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"

import (
	"time"

	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
)

// NewMetricsBuilder is what mdatagen generates for receivers, scrapers and
// connectors but not for processors (v0.158.0, metrics.go.tmpl: `if or
// isReceiver isScraper isConnector`), although it generates the builder type,
// its record methods and a test that calls this constructor. It mirrors the
// template so the generated test runs unchanged; a metric added to
// metadata.yaml must be added here too, which that test's all_set case
// catches by counting the metrics it gets back.
func NewMetricsBuilder(mbc MetricsBuilderConfig, settings processor.Settings, options ...MetricBuilderOption) *MetricsBuilder {
	mb := &MetricsBuilder{
		config:                                  mbc,
		startTime:                               pcommon.NewTimestampFromTime(time.Now()),
		metricsBuffer:                           pmetric.NewMetrics(),
		buildInfo:                               settings.BuildInfo,
		metricAcceltelPlanCalibrationFactor:     newMetricAcceltelPlanCalibrationFactor(mbc.Metrics.AcceltelPlanCalibrationFactor),
		metricAcceltelPlanJobsIncomplete:        newMetricAcceltelPlanJobsIncomplete(mbc.Metrics.AcceltelPlanJobsIncomplete),
		metricAcceltelPlanMemoryHeadroom:        newMetricAcceltelPlanMemoryHeadroom(mbc.Metrics.AcceltelPlanMemoryHeadroom),
		metricAcceltelPlanPredictionError:       newMetricAcceltelPlanPredictionError(mbc.Metrics.AcceltelPlanPredictionError),
		metricAcceltelPlanRecommendation:        newMetricAcceltelPlanRecommendation(mbc.Metrics.AcceltelPlanRecommendation),
		metricAcceltelPlanSpeedup:               newMetricAcceltelPlanSpeedup(mbc.Metrics.AcceltelPlanSpeedup),
		metricAcceltelPlanStepCost:              newMetricAcceltelPlanStepCost(mbc.Metrics.AcceltelPlanStepCost),
		metricAcceltelPlanStepDurationMeasured:  newMetricAcceltelPlanStepDurationMeasured(mbc.Metrics.AcceltelPlanStepDurationMeasured),
		metricAcceltelPlanStepDurationPredicted: newMetricAcceltelPlanStepDurationPredicted(mbc.Metrics.AcceltelPlanStepDurationPredicted),
		resourceAttributeIncludeFilter:          make(map[string]filter.Filter),
		resourceAttributeExcludeFilter:          make(map[string]filter.Filter),
	}
	for name, rac := range map[string]ResourceAttributeConfig{
		"k8s.job.name":       mbc.ResourceAttributes.K8sJobName,
		"k8s.namespace.name": mbc.ResourceAttributes.K8sNamespaceName,
		"ml.job.id":          mbc.ResourceAttributes.MlJobID,
	} {
		if rac.MetricsInclude != nil {
			mb.resourceAttributeIncludeFilter[name] = filter.CreateFilter(rac.MetricsInclude)
		}
		if rac.MetricsExclude != nil {
			mb.resourceAttributeExcludeFilter[name] = filter.CreateFilter(rac.MetricsExclude)
		}
	}
	for _, op := range options {
		op.apply(mb)
	}
	return mb
}
