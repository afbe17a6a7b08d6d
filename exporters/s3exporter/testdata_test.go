package s3exporter

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// t0 is ten seconds before an hour boundary, so that test data straddles
// two hour partitions.
var t0 = time.Date(2026, 11, 28, 13, 59, 50, 123456000, time.UTC)

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }

// testMetrics has every point type, two hosts and a resource without
// host.name, attributes of several types, and points on both sides of an
// hour boundary: 4 partitions.
func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, host := range []string{"gpu-node-1", "gpu/node:2", ""} {
		rm := md.ResourceMetrics().AppendEmpty()
		if host != "" {
			rm.Resource().Attributes().PutStr("host.name", host)
		}
		rm.Resource().Attributes().PutStr("service.name", "trainer")
		rm.Resource().Attributes().PutInt("nvidia.gpu.index", 3)
		rm.Resource().Attributes().PutStr("k8s.namespace.name", "ml")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("test/scope")
		sm.Scope().SetVersion("1.2.3")

		g := sm.Metrics().AppendEmpty()
		g.SetName("hw.gpu.utilization")
		g.SetUnit("1")
		g.SetDescription("Busy share.")
		gauge := g.SetEmptyGauge()
		for i, d := range []time.Duration{0, 20 * time.Second} {
			dp := gauge.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts(d))
			dp.SetDoubleValue(0.25 + float64(i))
			dp.Attributes().PutStr("hw.gpu.task", "general")
			dp.Attributes().PutStr("hw.id", "GPU-point-attr")
			dp.Attributes().PutBool("mig", i == 1)
		}

		s := sm.Metrics().AppendEmpty()
		s.SetName("hw.energy")
		s.SetUnit("J")
		sum := s.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		sum.SetIsMonotonic(true)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(ts(-time.Hour))
		dp.SetTimestamp(ts(5 * time.Second))
		dp.SetIntValue(123456789)

		h := sm.Metrics().AppendEmpty()
		h.SetName("nccl.op.duration")
		h.SetUnit("s")
		hist := h.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		hp := hist.DataPoints().AppendEmpty()
		hp.SetStartTimestamp(ts(-10 * time.Second))
		hp.SetTimestamp(ts(15 * time.Second))
		hp.SetCount(6)
		hp.SetSum(1.5)
		hp.SetMin(0.01)
		hp.SetMax(0.9)
		hp.BucketCounts().FromRaw([]uint64{1, 2, 3})
		hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5})
		hp.Attributes().PutStr("nccl.op", "all_reduce")

		e := sm.Metrics().AppendEmpty()
		e.SetName("cpu.runqueue.latency")
		e.SetUnit("s")
		exp := e.SetEmptyExponentialHistogram()
		exp.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		ep := exp.DataPoints().AppendEmpty()
		ep.SetStartTimestamp(ts(-time.Minute))
		ep.SetTimestamp(ts(1 * time.Second))
		ep.SetCount(10)
		ep.SetSum(0.02)
		ep.SetScale(3)
		ep.SetZeroCount(1)
		ep.SetZeroThreshold(1e-9)
		ep.Positive().SetOffset(-20)
		ep.Positive().BucketCounts().FromRaw([]uint64{4, 0, 5})
		ep.Negative().SetOffset(2)
		ep.Negative().BucketCounts().FromRaw([]uint64{})

		q := sm.Metrics().AppendEmpty()
		q.SetName("step.time")
		q.SetUnit("s")
		qp := q.SetEmptySummary().DataPoints().AppendEmpty()
		qp.SetTimestamp(ts(25 * time.Second))
		qp.SetCount(100)
		qp.SetSum(250)
		for _, v := range [][2]float64{{0.5, 2.4}, {0.99, 3.1}} {
			qv := qp.QuantileValues().AppendEmpty()
			qv.SetQuantile(v[0])
			qv.SetValue(v[1])
		}
	}
	return md
}

// testLogs has two hosts, records on both sides of an hour boundary, one
// record with only an observed time, a map body, trace context and an event
// name.
func testLogs() plog.Logs {
	ld := plog.NewLogs()
	for _, host := range []string{"gpu-node-1", "gpu-node-2"} {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", host)
		rl.Resource().Attributes().PutStr("service.name", "anomaly")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("test/logs")
		for i, d := range []time.Duration{0, 15 * time.Second, 30 * time.Second} {
			lr := sl.LogRecords().AppendEmpty()
			if i != 2 {
				lr.SetTimestamp(ts(d))
			}
			lr.SetObservedTimestamp(ts(d + time.Second))
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
			lr.Attributes().PutStr("hw.id", "GPU-1234")
			lr.Attributes().PutInt("attempt", int64(i))
			switch i {
			case 0:
				lr.Body().SetStr("straggler on " + host)
				lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
				lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
				lr.SetEventName("acceltel.anomaly.start")
			case 1:
				lr.Body().SetEmptyMap().PutDouble("score", 4.5)
			case 2:
				lr.Body().SetStr("observed only")
			}
		}
	}
	return ld
}
