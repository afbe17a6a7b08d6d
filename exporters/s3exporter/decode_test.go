package s3exporter

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The tests compare data by canonical strings, one per point or record,
// built the same way from what was sent and from what was read back. Parquet
// keeps microseconds, so its strings use microseconds; OTLP's nanoseconds.

type precision int64

const (
	inNanos  precision = 1
	inMicros precision = 1000
)

func (p precision) ts(t pcommon.Timestamp) string { return strconv.FormatInt(int64(t)/int64(p), 10) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func attrString(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func pmap(m pcommon.Map) map[string]string {
	out := map[string]string{}
	for k, v := range m.All() {
		out[k] = v.AsString()
	}
	return out
}

// canonMetrics flattens md into one string per point, and maps each to the
// partition directory the default template gives it.
func canonMetrics(md pmetric.Metrics, p precision) (points []string, dirs map[string]string) {
	dirs = map[string]string{}
	rms := md.ResourceMetrics()
	for ri := 0; ri < rms.Len(); ri++ {
		rm := rms.At(ri)
		res := pmap(rm.Resource().Attributes())
		for si := 0; si < rm.ScopeMetrics().Len(); si++ {
			sm := rm.ScopeMetrics().At(si)
			for mi := 0; mi < sm.Metrics().Len(); mi++ {
				m := sm.Metrics().At(mi)
				head := fmt.Sprintf("%s|%s|%s|res=%s|scope=%s/%s", m.Name(), m.Unit(), m.Description(), attrString(res), sm.Scope().Name(), sm.Scope().Version())
				add := func(t, start pcommon.Timestamp, attrs pcommon.Map, kind, value string) {
					s := fmt.Sprintf("%s|%s|t=%s|start=%s|attrs=%s|%s", head, kind, p.ts(t), p.ts(start), attrString(pmap(attrs)), value)
					points = append(points, s)
					dirs[s] = expectedDir("metrics", res, t)
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
					kind := "gauge"
					var dps pmetric.NumberDataPointSlice
					if m.Type() == pmetric.MetricTypeSum {
						kind = fmt.Sprintf("sum/%s/%v", strings.ToLower(m.Sum().AggregationTemporality().String()), m.Sum().IsMonotonic())
						dps = m.Sum().DataPoints()
					} else {
						dps = m.Gauge().DataPoints()
					}
					for i := 0; i < dps.Len(); i++ {
						dp := dps.At(i)
						v := dp.DoubleValue()
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							v = float64(dp.IntValue())
						}
						add(dp.Timestamp(), dp.StartTimestamp(), dp.Attributes(), kind, fmtFloat(v))
					}
				case pmetric.MetricTypeHistogram:
					kind := "histogram/" + strings.ToLower(m.Histogram().AggregationTemporality().String())
					for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
						dp := m.Histogram().DataPoints().At(i)
						add(dp.Timestamp(), dp.StartTimestamp(), dp.Attributes(), kind,
							fmt.Sprintf("count=%d sum=%s min=%s max=%s buckets=%v bounds=%v", dp.Count(), fmtFloat(dp.Sum()), fmtFloat(dp.Min()), fmtFloat(dp.Max()), dp.BucketCounts().AsRaw(), dp.ExplicitBounds().AsRaw()))
					}
				case pmetric.MetricTypeExponentialHistogram:
					kind := "exponential_histogram/" + strings.ToLower(m.ExponentialHistogram().AggregationTemporality().String())
					for i := 0; i < m.ExponentialHistogram().DataPoints().Len(); i++ {
						dp := m.ExponentialHistogram().DataPoints().At(i)
						add(dp.Timestamp(), dp.StartTimestamp(), dp.Attributes(), kind,
							fmt.Sprintf("count=%d sum=%s scale=%d zero=%d/%s pos=%d:%v neg=%d:%v", dp.Count(), fmtFloat(dp.Sum()), dp.Scale(), dp.ZeroCount(), fmtFloat(dp.ZeroThreshold()),
								dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw(), dp.Negative().Offset(), dp.Negative().BucketCounts().AsRaw()))
					}
				case pmetric.MetricTypeSummary:
					for i := 0; i < m.Summary().DataPoints().Len(); i++ {
						dp := m.Summary().DataPoints().At(i)
						var qs []string
						for j := 0; j < dp.QuantileValues().Len(); j++ {
							q := dp.QuantileValues().At(j)
							qs = append(qs, fmtFloat(q.Quantile())+":"+fmtFloat(q.Value()))
						}
						add(dp.Timestamp(), dp.StartTimestamp(), dp.Attributes(), "summary",
							fmt.Sprintf("count=%d sum=%s q=%v", dp.Count(), fmtFloat(dp.Sum()), qs))
					}
				}
			}
		}
	}
	return points, dirs
}

// canonMetricRows builds the same strings from Parquet rows, and checks the
// promoted join-key columns against the maps on the way.
func canonMetricRows(t *testing.T, rows []metricRow) []string {
	t.Helper()
	var out []string
	for _, r := range rows {
		checkPromoted(t, r.ResourceAttrs, r.Attributes, r.HostName, r.HwID, r.K8sPodName, r.K8sNamespaceName, r.ServiceName)
		head := fmt.Sprintf("%s|%s|%s|res=%s|scope=%s/%s", r.MetricName, r.Unit, r.Description, attrString(r.ResourceAttrs), r.ScopeName, r.ScopeVersion)
		start := "0"
		if r.StartTimestamp != nil {
			start = strconv.FormatInt(*r.StartTimestamp, 10)
		}
		kind, value := r.MetricType, ""
		switch r.MetricType {
		case "gauge":
			value = fmtFloat(*r.Value)
		case "sum":
			kind = fmt.Sprintf("sum/%s/%v", *r.Temporality, *r.Monotonic)
			value = fmtFloat(*r.Value)
		case "histogram":
			kind += "/" + *r.Temporality
			value = fmt.Sprintf("count=%d sum=%s min=%s max=%s buckets=%v bounds=%v", *r.Count, fmtFloat(*r.Sum), fmtFloat(*r.Min), fmtFloat(*r.Max), r.BucketCounts, r.ExplicitBounds)
		case "exponential_histogram":
			kind += "/" + *r.Temporality
			value = fmt.Sprintf("count=%d sum=%s scale=%d zero=%d/%s pos=%d:%v neg=%d:%v", *r.Count, fmtFloat(*r.Sum), *r.Scale, *r.ZeroCount, fmtFloat(*r.ZeroThreshold),
				*r.PositiveOffset, r.PositiveBuckets, *r.NegativeOffset, r.NegativeBuckets)
		case "summary":
			var qs []string
			for i := range r.Quantiles {
				qs = append(qs, fmtFloat(r.Quantiles[i])+":"+fmtFloat(r.QuantileValues[i]))
			}
			value = fmt.Sprintf("count=%d sum=%s q=%v", *r.Count, fmtFloat(*r.Sum), qs)
		}
		out = append(out, fmt.Sprintf("%s|%s|t=%d|start=%s|attrs=%s|%s", head, kind, r.Timestamp, start, attrString(r.Attributes), value))
	}
	return out
}

func checkPromoted(t *testing.T, res, point map[string]string, host, hw, pod, ns, svc *string) {
	t.Helper()
	want := func(name, key string, got *string, fromPoint bool) {
		v, ok := res[key]
		if !ok && fromPoint {
			v, ok = point[key]
		}
		switch {
		case ok && (got == nil || *got != v):
			t.Errorf("column %s = %v, want %q", name, got, v)
		case !ok && got != nil:
			t.Errorf("column %s = %q, want null", name, *got)
		}
	}
	want("host_name", keyHostName, host, false)
	want("hw_id", keyHwID, hw, true)
	want("k8s_pod_name", keyK8sPodName, pod, true)
	want("k8s_namespace_name", keyK8sNamespaceName, ns, true)
	want("service_name", keyServiceName, svc, false)
}

func canonLogs(ld plog.Logs, p precision) (records []string, dirs map[string]string) {
	dirs = map[string]string{}
	for ri := 0; ri < ld.ResourceLogs().Len(); ri++ {
		rl := ld.ResourceLogs().At(ri)
		res := pmap(rl.Resource().Attributes())
		for si := 0; si < rl.ScopeLogs().Len(); si++ {
			sl := rl.ScopeLogs().At(si)
			for li := 0; li < sl.LogRecords().Len(); li++ {
				lr := sl.LogRecords().At(li)
				s := fmt.Sprintf("res=%s|scope=%s/%s|t=%s|obs=%s|sev=%d/%s|body=%s|event=%s|trace=%s|span=%s|flags=%d|attrs=%s",
					attrString(res), sl.Scope().Name(), sl.Scope().Version(), p.ts(lr.Timestamp()), p.ts(lr.ObservedTimestamp()),
					lr.SeverityNumber(), lr.SeverityText(), lr.Body().AsString(), lr.EventName(), hexOrEmpty(lr.TraceID().String()), hexOrEmpty(lr.SpanID().String()),
					lr.Flags(), attrString(pmap(lr.Attributes())))
				records = append(records, s)
				dirs[s] = expectedDir("logs", res, logTime(lr))
			}
		}
	}
	return records, dirs
}

func hexOrEmpty(s string) string {
	if strings.Trim(s, "0") == "" {
		return ""
	}
	return s
}

func canonLogRows(t *testing.T, rows []logRow) []string {
	t.Helper()
	opt := func(p *int64) string {
		if p == nil {
			return "0"
		}
		return strconv.FormatInt(*p, 10)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var out []string
	for _, r := range rows {
		checkPromoted(t, r.ResourceAttrs, r.Attributes, r.HostName, r.HwID, r.K8sPodName, r.K8sNamespaceName, r.ServiceName)
		out = append(out, fmt.Sprintf("res=%s|scope=%s/%s|t=%s|obs=%s|sev=%d/%s|body=%s|event=%s|trace=%s|span=%s|flags=%d|attrs=%s",
			attrString(r.ResourceAttrs), r.ScopeName, r.ScopeVersion, opt(r.Timestamp), opt(r.ObservedTimestamp),
			r.SeverityNumber, r.SeverityText, r.Body, str(r.EventName), str(r.TraceID), str(r.SpanID), r.Flags, attrString(r.Attributes)))
	}
	return out
}

// expectedDir is the default template, computed independently of it.
func expectedDir(signal string, res map[string]string, t pcommon.Timestamp) string {
	host, ok := res["host.name"]
	if !ok {
		host = missingValue
	}
	host = strings.NewReplacer("/", "%2F", ":", "%3A").Replace(host)
	u := t.AsTime()
	return fmt.Sprintf("%s/dt=%s/hour=%02d/host.name=%s", signal, u.Format(time.DateOnly), u.Hour(), host)
}

// decompress undoes the compression the key's extension names.
func decompress(t *testing.T, key string, body []byte) []byte {
	t.Helper()
	switch {
	case strings.HasSuffix(key, ".gz"):
		r, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return out
	case strings.HasSuffix(key, ".zst"):
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(body, nil)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return out
	}
	return body
}

// decodeMetricsObject reads one object back, by the format its key names,
// into canonical strings.
func decodeMetricsObject(t *testing.T, key string, body []byte) []string {
	t.Helper()
	if strings.HasSuffix(key, ".parquet") {
		rows, err := parquet.Read[metricRow](bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: reading Parquet: %v", key, err)
		}
		return canonMetricRows(t, rows)
	}
	raw := decompress(t, key, body)
	var md pmetric.Metrics
	var err error
	if strings.Contains(key, ".binpb") {
		md, err = (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(raw)
	} else {
		md, err = (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(raw)
	}
	if err != nil {
		t.Fatalf("%s: unmarshaling OTLP: %v", key, err)
	}
	points, _ := canonMetrics(md, inNanos)
	return points
}

func decodeLogsObject(t *testing.T, key string, body []byte) []string {
	t.Helper()
	if strings.HasSuffix(key, ".parquet") {
		rows, err := parquet.Read[logRow](bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: reading Parquet: %v", key, err)
		}
		return canonLogRows(t, rows)
	}
	raw := decompress(t, key, body)
	var ld plog.Logs
	var err error
	if strings.Contains(key, ".binpb") {
		ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(raw)
	} else {
		ld, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(raw)
	}
	if err != nil {
		t.Fatalf("%s: unmarshaling OTLP: %v", key, err)
	}
	records, _ := canonLogs(ld, inNanos)
	return records
}

// checkExactlyOnce checks that every sent point (record) was read back
// exactly once, in the object of its partition, and nothing else was.
func checkExactlyOnce(t *testing.T, want []string, wantDir map[string]string, got map[string][]string) {
	t.Helper()
	seen := map[string]int{}
	for key, points := range got {
		for _, p := range points {
			seen[p]++
			dir, ok := wantDir[p]
			if !ok {
				t.Errorf("%s holds a point that was never sent:\n  %s", key, p)
				continue
			}
			if !strings.Contains(key, dir+"/part-") {
				t.Errorf("%s holds a point of partition %s:\n  %s", key, dir, p)
			}
		}
	}
	for _, p := range want {
		if seen[p] != 1 {
			t.Errorf("point read back %d times, want once:\n  %s", seen[p], p)
		}
	}
}
