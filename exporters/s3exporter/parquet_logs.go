package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"cmp"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// logRow is the Parquet schema of logs, one row per record; see metricRow
// for the conventions. The body is a string (maps and arrays as JSON), trace
// and span IDs are lowercase hex.
type logRow struct {
	Timestamp         *int64            `parquet:"timestamp,optional,timestamp(microsecond)"`
	ObservedTimestamp *int64            `parquet:"observed_timestamp,optional,timestamp(microsecond)"`
	SeverityNumber    int32             `parquet:"severity_number"`
	SeverityText      string            `parquet:"severity_text,dict"`
	Body              string            `parquet:"body"`
	EventName         *string           `parquet:"event_name,optional,dict"`
	HostName          *string           `parquet:"host_name,optional,dict"`
	HwID              *string           `parquet:"hw_id,optional,dict"`
	K8sNamespaceName  *string           `parquet:"k8s_namespace_name,optional,dict"`
	K8sPodName        *string           `parquet:"k8s_pod_name,optional,dict"`
	ServiceName       *string           `parquet:"service_name,optional,dict"`
	Attributes        map[string]string `parquet:"attributes" parquet-key:",dict" parquet-value:",dict"`
	TraceID           *string           `parquet:"trace_id,optional"`
	SpanID            *string           `parquet:"span_id,optional"`
	Flags             int32             `parquet:"flags"`
	ResourceAttrs     map[string]string `parquet:"resource_attributes" parquet-key:",dict" parquet-value:",dict"`
	ScopeName         string            `parquet:"scope_name,dict"`
	ScopeVersion      string            `parquet:"scope_version,dict"`
}

var logSchema = parquet.NewSchema("acceltel_logs", parquet.SchemaOf(logRow{}))

type logPoint struct {
	lr    plog.LogRecord
	res   *resourceInfo
	scope *pcommon.InstrumentationScope
	attrs []kv
	// sortTime is the time the record is filed under (see logTime).
	sortTime pcommon.Timestamp
}

// logPoints flattens ld; the order it returns sorts by time, so that page
// statistics on timestamp let readers skip pages outside a time range.
func logPoints(ld plog.Logs, points []logPoint, arena []kv) ([]logPoint, []int32, []kv) {
	points = points[:0]
	arena = arena[:0]
	rls := ld.ResourceLogs()
	for ri := 0; ri < rls.Len(); ri++ {
		rl := rls.At(ri)
		res := newResourceInfo(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for si := 0; si < sls.Len(); si++ {
			scope := sls.At(si).Scope()
			lrs := sls.At(si).LogRecords()
			for li := 0; li < lrs.Len(); li++ {
				lr := lrs.At(li)
				var kvs []kv
				arena, kvs, _ = appendAttrs(arena, lr.Attributes())
				points = append(points, logPoint{lr: lr, res: res, scope: &scope, attrs: kvs, sortTime: logTime(lr)})
			}
		}
	}
	order := make([]int32, len(points))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(points[a].sortTime, points[b].sortTime), cmp.Compare(a, b))
	})
	return points, order, arena
}

var logColumns = sync.OnceValue(func() []boundColumn[logPoint] {
	type P = logPoint
	type E = emitter[P]
	optTime := func(get func(*P) pcommon.Timestamp) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			ts := get(p)
			return optional(dst, ts != 0, parquet.Int64Value(micros(ts)), l)
		}
	}
	optStr := func(get func(*P) *string) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value { return optionalString(dst, get(p), l) }
	}
	str := func(get func(*P) string) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value { return requiredString(dst, get(p), l) }
	}
	return bindColumns(logSchema, map[string]E{
		"timestamp":          optTime(func(p *P) pcommon.Timestamp { return p.lr.Timestamp() }),
		"observed_timestamp": optTime(func(p *P) pcommon.Timestamp { return p.lr.ObservedTimestamp() }),
		"severity_number": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return required(dst, parquet.Int32Value(int32(p.lr.SeverityNumber())), l)
		},
		"severity_text": str(func(p *P) string { return p.lr.SeverityText() }),
		"body": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			b := p.lr.Body()
			if b.Type() == pcommon.ValueTypeStr {
				return requiredString(dst, b.Str(), l)
			}
			return requiredString(dst, b.AsString(), l)
		},
		"event_name": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			name := p.lr.EventName()
			return optional(dst, name != "", parquet.ByteArrayValue(bytesOf(name)), l)
		},
		"host_name":          optStr(func(p *P) *string { return p.res.hostName }),
		"hw_id":              optStr(func(p *P) *string { return promoted(p.res.hwID, p.attrs, keyHwID) }),
		"k8s_namespace_name": optStr(func(p *P) *string { return promoted(p.res.namespaceName, p.attrs, keyK8sNamespaceName) }),
		"k8s_pod_name":       optStr(func(p *P) *string { return promoted(p.res.podName, p.attrs, keyK8sPodName) }),
		"service_name":       optStr(func(p *P) *string { return p.res.serviceName }),
		"attributes.key_value.key": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return mapEntries(dst, p.attrs, false, l)
		},
		"attributes.key_value.value": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return mapEntries(dst, p.attrs, true, l)
		},
		"trace_id": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			id := p.lr.TraceID()
			return optional(dst, !id.IsEmpty(), parquet.ByteArrayValue([]byte(id.String())), l)
		},
		"span_id": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			id := p.lr.SpanID()
			return optional(dst, !id.IsEmpty(), parquet.ByteArrayValue([]byte(id.String())), l)
		},
		"flags": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return required(dst, parquet.Int32Value(int32(p.lr.Flags())), l)
		},
		"resource_attributes.key_value.key": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return p.res.entries(dst, false, l)
		},
		"resource_attributes.key_value.value": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return p.res.entries(dst, true, l)
		},
		"scope_name":    str(func(p *P) string { return p.scope.Name() }),
		"scope_version": str(func(p *P) string { return p.scope.Version() }),
	})
})
