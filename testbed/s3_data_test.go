package testbed

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// This file holds what the S3 tests send and how they compare it with what
// comes back: every data point and log record flattened into one comparable
// value, from pdata (what was sent, and what OTLP files hold) and from
// DuckDB's rows of the Parquet files.

// s3Hosts are the nodes whose data the S3 tests send. The third name has a
// slash and a colon, which the partition directory must escape
// (host.name=rack-7%2Fdgx%3A03) and DuckDB must decode.
var s3Hosts = []string{"dgx-h100-01", "dgx-h100-02", "rack-7/dgx:03"}

// s3TestScope is the instrumentation scope of everything sent.
const (
	s3TestScope        = "github.com/acceltel/acceltel/testbed"
	s3TestScopeVersion = "e2e"
)

// The metrics of gpuFleetMetrics, one of each kind the Parquet schema has
// columns for. None is one the pipeline's processors act on (anomaly scores
// hw.gpu.utilization and nvidia.gpu.*, parallelism reads ml.*), so what
// comes out is what went in.
var gpuFleetMetricNames = []string{
	"hw.gpu.memory.usage", "hw.temperature", "hw.energy", "hw.gpu.io",
	"nccl.collective.duration", "hw.gpu.kernel.duration", "trainer.step.duration",
}

// gpuFleetMetrics is one scrape of every host: two GPU resources each (int
// and double gauges, a cumulative monotonic sum, a delta non-monotonic sum
// with two points, an explicit-bucket histogram with an exemplar, an
// exponential histogram) and one training-process resource without hw.id.
// Values depend on host, GPU and round, so a point filed under the wrong
// resource or round does not match.
func gpuFleetMetrics(round int, start, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ptime := pcommon.NewTimestampFromTime
	for h, host := range s3Hosts {
		for g := range 2 {
			rm := md.ResourceMetrics().AppendEmpty()
			res := rm.Resource().Attributes()
			res.PutStr("host.name", host)
			res.PutStr("hw.id", fmt.Sprintf("GPU-5e3c0a7d-%04d-4000-8000-%012d", h, g))
			res.PutStr("hw.model", gpuModel)
			res.PutInt("nvidia.gpu.index", int64(g))
			res.PutStr("k8s.pod.name", fmt.Sprintf("train-llama-%d", 2*h+g))
			res.PutStr("k8s.namespace.name", "training")
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(s3TestScope)
			sm.Scope().SetVersion(s3TestScopeVersion)
			v := float64(10*h+g) + float64(round)/4

			m := sm.Metrics().AppendEmpty()
			m.SetName("hw.gpu.memory.usage")
			m.SetUnit("By")
			m.SetDescription("GPU memory in use")
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(ptime(ts))
			dp.SetIntValue(int64(40+h)<<30 + int64(g)<<20 + int64(round))

			m = sm.Metrics().AppendEmpty()
			m.SetName("hw.temperature")
			m.SetUnit("Cel")
			dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(ptime(ts))
			dp.SetDoubleValue(61.5 + v)
			// Non-string attributes: the Parquet map holds them as
			// OTLP/JSON prints them.
			dp.Attributes().PutStr("hw.sensor.location", "die")
			dp.Attributes().PutInt("hw.sensor.index", int64(g))
			dp.Attributes().PutBool("calibrated", true)
			dp.Attributes().PutDouble("offset", 0.25)

			m = sm.Metrics().AppendEmpty()
			m.SetName("hw.energy")
			m.SetUnit("J")
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp = sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(ptime(start))
			dp.SetTimestamp(ptime(ts))
			dp.SetDoubleValue(1e6 + 7000.5*float64(round+1) + v)

			m = sm.Metrics().AppendEmpty()
			m.SetName("hw.gpu.io")
			m.SetUnit("By")
			sum = m.SetEmptySum()
			sum.SetIsMonotonic(false)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			for d, dir := range []string{"receive", "transmit"} {
				dp = sum.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(ptime(ts.Add(-10 * time.Second)))
				dp.SetTimestamp(ptime(ts))
				dp.SetIntValue(int64(1+d)<<20 + int64(round) - int64(h))
				dp.Attributes().PutStr("network.io.direction", dir)
			}

			m = sm.Metrics().AppendEmpty()
			m.SetName("nccl.collective.duration")
			m.SetUnit("s")
			hist := m.SetEmptyHistogram()
			hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			hp := hist.DataPoints().AppendEmpty()
			hp.SetStartTimestamp(ptime(start))
			hp.SetTimestamp(ptime(ts))
			hp.Attributes().PutStr("nccl.collective", "allreduce")
			hp.ExplicitBounds().FromRaw([]float64{0.001, 0.01, 0.1, 1})
			buckets := []uint64{1, 2 + uint64(round), 0, 1, uint64(h)}
			hp.BucketCounts().FromRaw(buckets)
			var n uint64
			for _, b := range buckets {
				n += b
			}
			hp.SetCount(n)
			hp.SetSum(0.5055 + float64(round) + 2*float64(h))
			hp.SetMin(0.0005)
			hp.SetMax(0.5 + 2*float64(h))
			ex := hp.Exemplars().AppendEmpty()
			ex.SetTimestamp(ptime(ts.Add(-time.Second)))
			ex.SetDoubleValue(0.003)
			ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(h)})

			m = sm.Metrics().AppendEmpty()
			m.SetName("hw.gpu.kernel.duration")
			m.SetUnit("s")
			exp := m.SetEmptyExponentialHistogram()
			exp.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			ep := exp.DataPoints().AppendEmpty()
			ep.SetStartTimestamp(ptime(ts.Add(-10 * time.Second)))
			ep.SetTimestamp(ptime(ts))
			ep.SetScale(3)
			ep.SetZeroCount(1)
			ep.SetZeroThreshold(1e-9)
			ep.Positive().SetOffset(-40)
			ep.Positive().BucketCounts().FromRaw([]uint64{1, 0, 2, uint64(round + 1)})
			ep.Negative().SetOffset(2)
			ep.Negative().BucketCounts().FromRaw([]uint64{uint64(g)})
			ep.SetCount(1 + 3 + uint64(round+1) + uint64(g))
			ep.SetSum(0.042 + float64(round))
			ep.Attributes().PutStr("cuda.kernel", "ncclDevKernel_AllReduce")
		}
		// The training process: a resource with service.name and no
		// GPU, so hw_id is null and service_name is set.
		rm := md.ResourceMetrics().AppendEmpty()
		res := rm.Resource().Attributes()
		res.PutStr("host.name", host)
		res.PutStr("service.name", "trainer")
		res.PutStr("service.instance.id", host+"-rank0")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(s3TestScope)
		sm.Scope().SetVersion(s3TestScopeVersion)
		m := sm.Metrics().AppendEmpty()
		m.SetName("trainer.step.duration")
		m.SetUnit("s")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ptime(ts))
		dp.SetDoubleValue(1.25 + float64(round) + float64(h)/8)
		dp.Attributes().PutInt("step", int64(100*round))
	}
	return md
}

// gpuFleetLogs is one round of log records of every host: a warning with a
// trace context and an event name, an error whose body is a map, and one
// record with only an observed time (filed under that time).
func gpuFleetLogs(round int, ts time.Time) plog.Logs {
	ld := plog.NewLogs()
	ptime := pcommon.NewTimestampFromTime
	for h, host := range s3Hosts {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("host.name", host)
		rl.Resource().Attributes().PutStr("service.name", "nvidia-dcgm")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(s3TestScope)
		sl.Scope().SetVersion(s3TestScopeVersion)
		gpu := fmt.Sprintf("GPU-5e3c0a7d-%04d-4000-8000-%012d", h, 0)

		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(ptime(ts))
		lr.SetObservedTimestamp(ptime(ts.Add(time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
		lr.SetEventName("hw.gpu.throttle")
		lr.Body().SetStr(fmt.Sprintf("%s throttled: power cap, round %d", gpu, round))
		lr.Attributes().PutStr("hw.id", gpu)
		lr.SetTraceID(pcommon.TraceID{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(round), byte(h)})
		lr.SetSpanID(pcommon.SpanID{0xb1, 2, 3, 4, 5, 6, byte(round), byte(h)})
		lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))

		lr = sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(ptime(ts.Add(2 * time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
		body := lr.Body().SetEmptyMap()
		body.PutInt("xid", 79)
		body.PutStr("message", fmt.Sprintf("GPU has fallen off the bus (round %d)", round))
		lr.Attributes().PutInt("nvidia.xid", 79)

		lr = sl.LogRecords().AppendEmpty()
		lr.SetObservedTimestamp(ptime(ts.Add(3 * time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(fmt.Sprintf("no timestamp, observed only, round %d of %s", round, host))
	}
	return ld
}

// flatMetric is one data point with everything that identifies and
// describes it. Times are in the unit of the reader: nanoseconds for OTLP,
// microseconds for Parquet. JSON of it is the comparison key.
type flatMetric struct {
	Host          string            `json:"host"`
	Name          string            `json:"name"`
	Type          string            `json:"type"`
	Unit          string            `json:"unit"`
	Description   string            `json:"description,omitempty"`
	Time          int64             `json:"time"`
	Start         int64             `json:"start,omitempty"`
	Value         *float64          `json:"value,omitempty"`
	Temporality   string            `json:"temporality,omitempty"`
	Monotonic     *bool             `json:"monotonic,omitempty"`
	Count         *int64            `json:"count,omitempty"`
	Sum           *float64          `json:"sum,omitempty"`
	Min           *float64          `json:"min,omitempty"`
	Max           *float64          `json:"max,omitempty"`
	Buckets       []int64           `json:"buckets,omitempty"`
	Bounds        []float64         `json:"bounds,omitempty"`
	Scale         *int64            `json:"scale,omitempty"`
	ZeroCount     *int64            `json:"zero_count,omitempty"`
	ZeroThreshold *float64          `json:"zero_threshold,omitempty"`
	PosOffset     *int64            `json:"pos_offset,omitempty"`
	PosBuckets    []int64           `json:"pos_buckets,omitempty"`
	NegOffset     *int64            `json:"neg_offset,omitempty"`
	NegBuckets    []int64           `json:"neg_buckets,omitempty"`
	Flags         int64             `json:"flags"`
	Exemplars     []string          `json:"exemplars,omitempty"`
	Attrs         map[string]string `json:"attrs"`
	Resource      map[string]string `json:"resource"`
	Scope         string            `json:"scope"`
	ScopeVersion  string            `json:"scope_version"`
}

func (p flatMetric) key() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return string(b)
}

// flatLog is one log record, as flatMetric is one data point.
type flatLog struct {
	Host         string            `json:"host"`
	Time         int64             `json:"time,omitempty"`
	Observed     int64             `json:"observed,omitempty"`
	Severity     int64             `json:"severity"`
	SeverityText string            `json:"severity_text"`
	Body         string            `json:"body"`
	EventName    string            `json:"event_name,omitempty"`
	TraceID      string            `json:"trace_id,omitempty"`
	SpanID       string            `json:"span_id,omitempty"`
	Flags        int64             `json:"flags"`
	Attrs        map[string]string `json:"attrs"`
	Resource     map[string]string `json:"resource"`
	Scope        string            `json:"scope"`
	ScopeVersion string            `json:"scope_version"`
}

func (l flatLog) key() string {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// strMap is an attribute map as the Parquet files write it: strings as
// they are, other values as OTLP/JSON prints them.
func strMap(m pcommon.Map) map[string]string {
	out := make(map[string]string, m.Len())
	for k, v := range m.All() {
		out[k] = v.AsString()
	}
	return out
}

// timeIn converts a pdata time to the unit of a reader; 0 stays 0 (unset).
func timeIn(ts pcommon.Timestamp, unit time.Duration) int64 {
	return int64(ts) / int64(unit)
}

func pointerTo[T any](v T) *T { return &v }

func toInt64s(in []uint64) []int64 {
	out := make([]int64, len(in))
	for i, v := range in {
		out[i] = int64(v)
	}
	return out
}

// flattenMetrics lists the points of md whose metric is one of names, in
// unit (time.Nanosecond for OTLP, time.Microsecond for Parquet). Exemplars
// are kept only for OTLP: Parquet does not write them.
func flattenMetrics(md pmetric.Metrics, unit time.Duration, names []string) []flatMetric {
	var out []flatMetric
	for _, rm := range md.ResourceMetrics().All() {
		res := strMap(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if !slices.Contains(names, m.Name()) {
					continue
				}
				base := flatMetric{
					Host: res["host.name"], Name: m.Name(), Unit: m.Unit(), Description: m.Description(),
					Resource: res, Scope: sm.Scope().Name(), ScopeVersion: sm.Scope().Version(),
				}
				number := func(dp pmetric.NumberDataPoint) flatMetric {
					p := base
					p.Time, p.Start = timeIn(dp.Timestamp(), unit), timeIn(dp.StartTimestamp(), unit)
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						p.Value = pointerTo(float64(dp.IntValue()))
					} else {
						p.Value = pointerTo(dp.DoubleValue())
					}
					p.Flags = int64(dp.Flags())
					p.Attrs = strMap(dp.Attributes())
					p.Exemplars = exemplars(dp.Exemplars(), unit)
					return p
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						p := number(dp)
						p.Type = "gauge"
						out = append(out, p)
					}
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						p := number(dp)
						p.Type = "sum"
						p.Temporality = temporality(m.Sum().AggregationTemporality())
						p.Monotonic = pointerTo(m.Sum().IsMonotonic())
						out = append(out, p)
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						p := base
						p.Type = "histogram"
						p.Temporality = temporality(m.Histogram().AggregationTemporality())
						p.Time, p.Start = timeIn(dp.Timestamp(), unit), timeIn(dp.StartTimestamp(), unit)
						p.Count = pointerTo(int64(dp.Count()))
						if dp.HasSum() {
							p.Sum = pointerTo(dp.Sum())
						}
						if dp.HasMin() {
							p.Min = pointerTo(dp.Min())
						}
						if dp.HasMax() {
							p.Max = pointerTo(dp.Max())
						}
						p.Buckets = toInt64s(dp.BucketCounts().AsRaw())
						p.Bounds = dp.ExplicitBounds().AsRaw()
						p.Flags = int64(dp.Flags())
						p.Attrs = strMap(dp.Attributes())
						p.Exemplars = exemplars(dp.Exemplars(), unit)
						out = append(out, p)
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						p := base
						p.Type = "exponential_histogram"
						p.Temporality = temporality(m.ExponentialHistogram().AggregationTemporality())
						p.Time, p.Start = timeIn(dp.Timestamp(), unit), timeIn(dp.StartTimestamp(), unit)
						p.Count = pointerTo(int64(dp.Count()))
						if dp.HasSum() {
							p.Sum = pointerTo(dp.Sum())
						}
						if dp.HasMin() {
							p.Min = pointerTo(dp.Min())
						}
						if dp.HasMax() {
							p.Max = pointerTo(dp.Max())
						}
						p.Scale = pointerTo(int64(dp.Scale()))
						p.ZeroCount = pointerTo(int64(dp.ZeroCount()))
						p.ZeroThreshold = pointerTo(dp.ZeroThreshold())
						p.PosOffset = pointerTo(int64(dp.Positive().Offset()))
						p.PosBuckets = toInt64s(dp.Positive().BucketCounts().AsRaw())
						p.NegOffset = pointerTo(int64(dp.Negative().Offset()))
						p.NegBuckets = toInt64s(dp.Negative().BucketCounts().AsRaw())
						p.Flags = int64(dp.Flags())
						p.Attrs = strMap(dp.Attributes())
						p.Exemplars = exemplars(dp.Exemplars(), unit)
						out = append(out, p)
					}
				}
			}
		}
	}
	if unit != time.Nanosecond {
		for i := range out {
			out[i].Exemplars = nil
		}
	}
	return out
}

func temporality(t pmetric.AggregationTemporality) string {
	return strings.ToLower(t.String())
}

func exemplars(es pmetric.ExemplarSlice, unit time.Duration) []string {
	var out []string
	for _, e := range es.All() {
		out = append(out, fmt.Sprintf("%d %v %s", timeIn(e.Timestamp(), unit), e.DoubleValue(), e.TraceID()))
	}
	return out
}

// flattenLogs lists the records of ld whose resource is one of hosts.
func flattenLogs(ld plog.Logs, unit time.Duration, hosts []string) []flatLog {
	var out []flatLog
	for _, rl := range ld.ResourceLogs().All() {
		res := strMap(rl.Resource().Attributes())
		if !slices.Contains(hosts, res["host.name"]) {
			continue
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				l := flatLog{
					Host: res["host.name"], Time: timeIn(lr.Timestamp(), unit), Observed: timeIn(lr.ObservedTimestamp(), unit),
					Severity: int64(lr.SeverityNumber()), SeverityText: lr.SeverityText(), Body: lr.Body().AsString(),
					EventName: lr.EventName(), Flags: int64(lr.Flags()), Attrs: strMap(lr.Attributes()), Resource: res,
					Scope: sl.Scope().Name(), ScopeVersion: sl.Scope().Version(),
				}
				if !lr.TraceID().IsEmpty() {
					l.TraceID = lr.TraceID().String()
				}
				if !lr.SpanID().IsEmpty() {
					l.SpanID = lr.SpanID().String()
				}
				out = append(out, l)
			}
		}
	}
	return out
}

// exactlyOnce compares what a reader found with what was sent, both as
// comparison keys, and describes every key missing, duplicated or not sent
// (a wrong value shows as one missing and one unexpected).
func exactlyOnce(reader string, want, got []string) error {
	counts := map[string]int{}
	for _, k := range got {
		counts[k]++
	}
	var problems []string
	for _, k := range want {
		switch n := counts[k]; n {
		case 1:
		case 0:
			problems = append(problems, "missing: "+k)
		default:
			problems = append(problems, fmt.Sprintf("%d times: %s", n, k))
		}
		delete(counts, k)
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		problems = append(problems, fmt.Sprintf("not sent (%d times): %s", counts[k], k))
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	const show = 8
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf("\n... and %d more", len(problems)-show)
		problems = problems[:show]
	}
	return fmt.Errorf("%s: %d sent, %d read back, %d problems:\n%s%s", reader, len(want), len(got), len(problems), strings.Join(problems, "\n"), more)
}

// decompressOTLP undoes an OTLP file's compression, told by its extension.
func decompressOTLP(key string, body []byte) ([]byte, error) {
	switch {
	case strings.HasSuffix(key, ".gz"):
		r, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case strings.HasSuffix(key, ".zst"):
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(body, nil)
	}
	return body, nil
}

// hiveEscape escapes a partition value as Hive does, which the README says
// the exporter does: the characters Hive's FileUtils escapes, as %XX.
func hiveEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// DuckDB's JSON values (see DuckDB): BIGINT as strings, INTEGER and DOUBLE
// as numbers, NULL as nil, LIST as []any, MAP as [{key, value}].

func duckInt(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		return int64(x), nil
	}
	return 0, fmt.Errorf("not an integer: %#v", v)
}

func duckIntPtr(v any) (*int64, error) {
	if v == nil {
		return nil, nil
	}
	n, err := duckInt(v)
	return &n, err
}

func duckFloatPtr(v any) (*float64, error) {
	if v == nil {
		return nil, nil
	}
	f, ok := v.(float64)
	if !ok {
		return nil, fmt.Errorf("not a double: %#v", v)
	}
	return &f, nil
}

func duckString(v any) string {
	s, _ := v.(string)
	return s
}

func duckInts(v any) ([]int64, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %#v", v)
	}
	var out []int64
	for _, e := range list {
		n, err := duckInt(e)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func duckFloats(v any) ([]float64, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %#v", v)
	}
	var out []float64
	for _, e := range list {
		f, ok := e.(float64)
		if !ok {
			return nil, fmt.Errorf("not a double: %#v", e)
		}
		out = append(out, f)
	}
	return out, nil
}

func duckMap(v any) (map[string]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a map: %#v", v)
	}
	out := make(map[string]string, len(list))
	for _, e := range list {
		kv, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("not a map entry: %#v", e)
		}
		out[duckString(kv["key"])] = duckString(kv["value"])
	}
	return out, nil
}
