package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/metadata"
)

// The outputs are declared in metadata.yaml, but not written through the
// generated MetricsBuilder: it gives every point of a metric one start time,
// while each cost series has its own (when its pod first held the GPU, or
// the start restored after a restart); it writes absent attributes as empty
// strings; and its merging of points whose attributes are disabled would
// keep series with different start times apart. So the builder is used once,
// to produce an empty metric of each kind (name, description, unit, type,
// temporality: metadata.yaml stays the only place they are written), and
// the processor fills copies of those templates. The generated MetricsConfig
// supplies the per-metric `enabled` flag and `attributes` list; series whose
// attributes are disabled are merged by adding their costs (see add).
type metricDesc struct {
	name     string
	template pmetric.Metric
	enabled  bool
	attrs    map[string]bool
}

type outputs struct {
	allocated, idle, energy, rate, unpriced, perPFLOP, perMTokens metricDesc
}

func attrSet[K ~string](keys []K) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[string(k)] = true
	}
	return m
}

func newOutputs(set processor.Settings, c metadata.MetricsConfig) outputs {
	all := metadata.NewDefaultMetricsBuilderConfig()
	// Every template is needed whatever the user enables.
	all.Metrics.AcceltelCostAllocated.Enabled = true
	all.Metrics.AcceltelCostIdle.Enabled = true
	all.Metrics.AcceltelCostEnergy.Enabled = true
	all.Metrics.AcceltelCostRate.Enabled = true
	all.Metrics.AcceltelCostUnpriced.Enabled = true
	all.Metrics.AcceltelCostPerPflop.Enabled = true
	all.Metrics.AcceltelCostPerMillionTokens.Enabled = true
	mb := metadata.NewMetricsBuilder(all, set)
	mb.RecordAcceltelCostAllocatedDataPoint(0, 0, "", "", "", "", "", "", metadata.AttributeRateKindOnDemand, "")
	mb.RecordAcceltelCostIdleDataPoint(0, 0, metadata.AttributeIdleReasonUnallocated, "", "", "", "", "", "", metadata.AttributeRateKindOnDemand, "")
	mb.RecordAcceltelCostEnergyDataPoint(0, 0, "", "", "", "", "", "", metadata.AttributeIdleReasonUnallocated, "")
	mb.RecordAcceltelCostRateDataPoint(0, 0, metadata.AttributeRateKindOnDemand, "")
	mb.RecordAcceltelCostUnpricedDataPoint(0, 0)
	mb.RecordAcceltelCostPerPflopDataPoint(0, 0, "")
	mb.RecordAcceltelCostPerMillionTokensDataPoint(0, 0, "", "", "")
	templates := map[string]pmetric.Metric{}
	ms := mb.Emit().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := pmetric.NewMetric()
		ms.At(i).CopyTo(m)
		switch m.Type() {
		case pmetric.MetricTypeSum:
			m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
		case pmetric.MetricTypeGauge:
			m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
		}
		templates[m.Name()] = m
	}
	d := func(name string, enabled bool, attrs map[string]bool) metricDesc {
		return metricDesc{name: name, template: templates[name], enabled: enabled, attrs: attrs}
	}
	return outputs{
		allocated:  d("acceltel.cost.allocated", c.AcceltelCostAllocated.Enabled, attrSet(c.AcceltelCostAllocated.EnabledAttributes)),
		idle:       d("acceltel.cost.idle", c.AcceltelCostIdle.Enabled, attrSet(c.AcceltelCostIdle.EnabledAttributes)),
		energy:     d("acceltel.cost.energy", c.AcceltelCostEnergy.Enabled, attrSet(c.AcceltelCostEnergy.EnabledAttributes)),
		rate:       d("acceltel.cost.rate", c.AcceltelCostRate.Enabled, attrSet(c.AcceltelCostRate.EnabledAttributes)),
		unpriced:   d("acceltel.cost.unpriced", c.AcceltelCostUnpriced.Enabled, map[string]bool{}),
		perPFLOP:   d("acceltel.cost.per_pflop", c.AcceltelCostPerPflop.Enabled, attrSet(c.AcceltelCostPerPflop.EnabledAttributes)),
		perMTokens: d("acceltel.cost.per_million_tokens", c.AcceltelCostPerMillionTokens.Enabled, attrSet(c.AcceltelCostPerMillionTokens.EnabledAttributes)),
	}
}

// newMetric appends an empty metric of d's shape and returns its points.
func (d *metricDesc) newMetric(ms pmetric.MetricSlice) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	d.template.CopyTo(m)
	if m.Type() == pmetric.MetricTypeSum {
		return m.Sum().DataPoints()
	}
	return m.Gauge().DataPoints()
}
