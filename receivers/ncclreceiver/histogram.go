package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/receivers/ncclreceiver/internal/metadata"
)

// appendHistograms builds the histogram metrics mdatagen v0.158 cannot:
// cumulative, with the same attributes as nccl.operation.count.
func appendHistograms(ms pmetric.MetricSlice, p *proc, cfg HistogramsConfig, start, ts pcommon.Timestamp) {
	type spec struct {
		on          bool
		name, unit  string
		description string
		bounds      []float64
		get         func(*series) *hist
	}
	for _, s := range []spec{
		{cfg.OperationDuration, "nccl.operation.duration", "s",
			"Time from the operation's start (host) to its completion (the host seeing its last kernel channel or proxy operation finish).",
			durationBounds, func(se *series) *hist { return &se.duration }},
		{cfg.OperationBusBandwidth, "nccl.operation.bus_bandwidth", "By/s",
			"Bus bandwidth of each operation: bytes over GPU kernel time (host time where NCCL gives no GPU timer), times the nccl-tests factor of the collective.",
			bandwidthBounds, func(se *series) *hist { return &se.busbw }},
	} {
		if !s.on {
			continue
		}
		m := pmetric.NewMetric()
		m.SetName(s.name)
		m.SetUnit(s.unit)
		m.SetDescription(s.description)
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for sk, se := range p.series {
			hs := s.get(se)
			if hs.count == 0 {
				continue
			}
			dp := h.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(ts)
			dp.SetCount(hs.count)
			dp.SetSum(hs.sum)
			dp.SetMin(hs.min)
			dp.SetMax(hs.max)
			dp.ExplicitBounds().FromRaw(s.bounds)
			dp.BucketCounts().FromRaw(hs.counts)
			a := dp.Attributes()
			a.PutStr("nccl.collective", cstr(sk.fn[:]))
			a.PutStr("nccl.communicator.id", commIDString(sk.commID))
			a.PutInt("nccl.communicator.size", int64(sk.nranks))
			a.PutInt("nccl.communicator.nodes", int64(sk.nnodes))
			a.PutInt("nccl.rank", int64(sk.rank))
			a.PutStr("nccl.algorithm", cstr(sk.algo[:]))
			a.PutStr("nccl.protocol", cstr(sk.proto[:]))
		}
		if h.DataPoints().Len() > 0 {
			m.MoveTo(ms.AppendEmpty())
		}
	}
}

// appendSpread adds nccl.collective.completion.spread to md, in its first
// resource (the one without a process: the spread spans processes).
func appendSpread(md pmetric.Metrics, t *spreadTracker, start, ts pcommon.Timestamp) {
	m := pmetric.NewMetric()
	m.SetName("nccl.collective.completion.spread")
	m.SetUnit("s")
	m.SetDescription("Per collective sequence number, the latest minus the earliest completion (host start plus duration) among the ranks of the communicator this collector saw; the raw straggler signal.")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for k, tr := range t.tracks {
		if tr.spread.count == 0 {
			continue
		}
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetCount(tr.spread.count)
		dp.SetSum(tr.spread.sum)
		dp.SetMin(tr.spread.min)
		dp.SetMax(tr.spread.max)
		dp.ExplicitBounds().FromRaw(durationBounds)
		dp.BucketCounts().FromRaw(tr.spread.counts)
		a := dp.Attributes()
		a.PutStr("nccl.collective", cstr(k.fn[:]))
		a.PutStr("nccl.communicator.id", commIDString(k.commID))
		a.PutInt("nccl.communicator.size", int64(tr.nranks))
	}
	if h.DataPoints().Len() == 0 {
		return
	}
	if md.ResourceMetrics().Len() == 0 {
		md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Scope().SetName(metadata.ScopeName)
	}
	m.MoveTo(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty())
}
