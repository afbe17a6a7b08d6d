package testbed

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/acceltel/acceltel/internal/s3test"
)

// otlpClient sends metrics and logs over one gRPC connection, which
// reconnects by itself when a collector comes back on the same address.
type otlpClient struct {
	conn    *grpc.ClientConn
	metrics pmetricotlp.GRPCClient
	logs    plogotlp.GRPCClient
}

func newOTLPClient(t *testing.T, endpoint string) *otlpClient {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &otlpClient{conn: conn, metrics: pmetricotlp.NewGRPCClient(conn), logs: plogotlp.NewGRPCClient(conn)}
}

func (c *otlpClient) sendMetrics(ctx context.Context, md pmetric.Metrics) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	return err
}

func (c *otlpClient) sendLogs(ctx context.Context, ld plog.Logs) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.logs.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	return err
}

// sqlList is names as an SQL list of string literals.
func sqlList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = SQLString(n)
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

// defaultLayout matches a key of the default partition template,
// {signal}/dt={dt}/hour={hour}/host.name={host.name}, below a prefix.
var defaultLayout = regexp.MustCompile(`^(metrics|logs)/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/host\.name=([^/]+)/part-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.(parquet|json\.gz)$`)

// partitionProblem checks a row or point against the directory of its file
// in the default layout: signal, the UTC date and hour of its time (in
// unit), its host (escaped as Hive escapes).
func partitionProblem(rel, signal string, t int64, unit time.Duration, host string) string {
	m := defaultLayout.FindStringSubmatch(rel)
	if m == nil {
		return fmt.Sprintf("key %s is not {signal}/dt=…/hour=…/host.name=…/part-<uuid v5>.<ext>", rel)
	}
	at := time.Unix(0, t*int64(unit)).UTC()
	want := []string{signal, at.Format("2006-01-02"), at.Format("15"), hiveEscape(host)}
	if got := m[1:5]; !slices.Equal(got, want) {
		return fmt.Sprintf("%s holds a %s point of host %q at %s: want directory %v", rel, signal, host, at.Format(time.RFC3339Nano), want)
	}
	return ""
}

// parquetMetrics reads the metrics of names from every Parquet file of the
// mirror with DuckDB, hive partitioning on, and returns them flattened with
// times in microseconds. It also checks what only Parquet has: the
// partition columns DuckDB decodes from the directories (equal to the
// row's host and time) and the promoted join-key columns (equal to the
// resource's attributes).
func parquetMetrics(root string, mirror *S3Mirror, names []string) ([]flatMetric, []string, error) {
	rows, err := QueryDuckDB(root, `SELECT filename, "host.name" AS part_host, dt::VARCHAR AS part_dt, hour::INTEGER AS part_hour,
		metric_name, metric_type, unit, description, epoch_us("timestamp")::VARCHAR AS ts, epoch_us(start_timestamp)::VARCHAR AS start_ts,
		value, host_name, hw_id, k8s_pod_name, k8s_namespace_name, service_name, attributes, resource_attributes,
		temporality, monotonic, "count", "sum", "min", "max", bucket_counts, explicit_bounds,
		scale, zero_count, zero_threshold, positive_offset, positive_bucket_counts, negative_offset, negative_bucket_counts,
		flags, scope_name, scope_version
		FROM read_parquet(`+mirror.Glob("metrics")+`, hive_partitioning = true, filename = true)
		WHERE metric_name IN `+sqlList(names))
	if err != nil {
		return nil, nil, err
	}
	var out []flatMetric
	var problems []string
	for _, r := range rows {
		p := flatMetric{
			Name: duckString(r["metric_name"]), Type: duckString(r["metric_type"]), Unit: duckString(r["unit"]),
			Description: duckString(r["description"]), Temporality: duckString(r["temporality"]),
			Scope: duckString(r["scope_name"]), ScopeVersion: duckString(r["scope_version"]),
		}
		var errs []error
		var e error
		p.Time, e = duckInt(r["ts"])
		errs = append(errs, e)
		if r["start_ts"] != nil {
			p.Start, e = duckInt(r["start_ts"])
			errs = append(errs, e)
		}
		p.Value, e = duckFloatPtr(r["value"])
		errs = append(errs, e)
		if b, ok := r["monotonic"].(bool); ok {
			p.Monotonic = &b
		}
		p.Count, e = duckIntPtr(r["count"])
		errs = append(errs, e)
		for _, f := range []struct {
			dst **float64
			col string
		}{{&p.Sum, "sum"}, {&p.Min, "min"}, {&p.Max, "max"}, {&p.ZeroThreshold, "zero_threshold"}} {
			*f.dst, e = duckFloatPtr(r[f.col])
			errs = append(errs, e)
		}
		for _, f := range []struct {
			dst **int64
			col string
		}{{&p.Scale, "scale"}, {&p.ZeroCount, "zero_count"}, {&p.PosOffset, "positive_offset"}, {&p.NegOffset, "negative_offset"}} {
			*f.dst, e = duckIntPtr(r[f.col])
			errs = append(errs, e)
		}
		for _, f := range []struct {
			dst *[]int64
			col string
		}{{&p.Buckets, "bucket_counts"}, {&p.PosBuckets, "positive_bucket_counts"}, {&p.NegBuckets, "negative_bucket_counts"}} {
			*f.dst, e = duckInts(r[f.col])
			errs = append(errs, e)
		}
		p.Bounds, e = duckFloats(r["explicit_bounds"])
		errs = append(errs, e)
		p.Flags, e = duckInt(r["flags"])
		errs = append(errs, e)
		p.Attrs, e = duckMap(r["attributes"])
		errs = append(errs, e)
		p.Resource, e = duckMap(r["resource_attributes"])
		errs = append(errs, e)
		for _, e := range errs {
			if e != nil {
				return nil, nil, fmt.Errorf("row %v: %w", r, e)
			}
		}
		p.Host = duckString(r["host_name"])
		out = append(out, p)
		problems = append(problems, parquetRowProblems(mirror, r, "metrics", p.Time, p.Resource, p.Attrs)...)
	}
	return out, problems, nil
}

// parquetRowProblems checks a row's file, partition columns and join-key
// columns. t is the time the row is filed under, in microseconds.
func parquetRowProblems(mirror *S3Mirror, r map[string]any, signal string, t int64, res, attrs map[string]string) []string {
	var problems []string
	rel, err := filepath.Rel(mirror.Dir, duckString(r["filename"]))
	if err != nil {
		return []string{err.Error()}
	}
	rel = filepath.ToSlash(rel)
	host := res["host.name"]
	if p := partitionProblem(rel, signal, t, time.Microsecond, host); p != "" {
		problems = append(problems, p)
	}
	at := time.UnixMicro(t).UTC()
	hour, _ := duckInt(r["part_hour"])
	if duckString(r["part_host"]) != host || duckString(r["part_dt"]) != at.Format("2006-01-02") || hour != int64(at.Hour()) {
		problems = append(problems, fmt.Sprintf("%s: DuckDB's partition columns host.name=%v dt=%v hour=%v, want %q %s %d",
			rel, r["part_host"], r["part_dt"], r["part_hour"], host, at.Format("2006-01-02"), at.Hour()))
	}
	// The join keys: from the resource, hw.id and the pod's name and
	// namespace falling back to the point's attributes.
	for col, key := range map[string]string{
		"host_name": "host.name", "hw_id": "hw.id", "k8s_pod_name": "k8s.pod.name",
		"k8s_namespace_name": "k8s.namespace.name", "service_name": "service.name",
	} {
		want, ok := res[key]
		if !ok && col != "host_name" && col != "service_name" {
			want, ok = attrs[key]
		}
		got, isStr := r[col].(string)
		if ok != isStr || got != want {
			problems = append(problems, fmt.Sprintf("%s: column %s = %#v, want %q (present: %v)", rel, col, r[col], want, ok))
		}
	}
	return problems
}

// parquetLogs is parquetMetrics for the log records of hosts.
func parquetLogs(root string, mirror *S3Mirror, hosts []string) ([]flatLog, []string, error) {
	rows, err := QueryDuckDB(root, `SELECT filename, "host.name" AS part_host, dt::VARCHAR AS part_dt, hour::INTEGER AS part_hour,
		epoch_us("timestamp")::VARCHAR AS ts, epoch_us(observed_timestamp)::VARCHAR AS observed,
		severity_number, severity_text, body, event_name, host_name, hw_id, k8s_pod_name, k8s_namespace_name, service_name,
		attributes, trace_id, span_id, flags, resource_attributes, scope_name, scope_version
		FROM read_parquet(`+mirror.Glob("logs")+`, hive_partitioning = true, filename = true)
		WHERE host_name IN `+sqlList(hosts))
	if err != nil {
		return nil, nil, err
	}
	var out []flatLog
	var problems []string
	for _, r := range rows {
		l := flatLog{
			Host: duckString(r["host_name"]), SeverityText: duckString(r["severity_text"]), Body: duckString(r["body"]),
			EventName: duckString(r["event_name"]), TraceID: duckString(r["trace_id"]), SpanID: duckString(r["span_id"]),
			Scope: duckString(r["scope_name"]), ScopeVersion: duckString(r["scope_version"]),
		}
		var errs []error
		var e error
		if r["ts"] != nil {
			l.Time, e = duckInt(r["ts"])
			errs = append(errs, e)
		}
		if r["observed"] != nil {
			l.Observed, e = duckInt(r["observed"])
			errs = append(errs, e)
		}
		l.Severity, e = duckInt(r["severity_number"])
		errs = append(errs, e)
		l.Flags, e = duckInt(r["flags"])
		errs = append(errs, e)
		l.Attrs, e = duckMap(r["attributes"])
		errs = append(errs, e)
		l.Resource, e = duckMap(r["resource_attributes"])
		errs = append(errs, e)
		for _, e := range errs {
			if e != nil {
				return nil, nil, fmt.Errorf("row %v: %w", r, e)
			}
		}
		out = append(out, l)
		filed := l.Time
		if filed == 0 {
			filed = l.Observed
		}
		problems = append(problems, parquetRowProblems(mirror, r, "logs", filed, l.Resource, l.Attrs)...)
	}
	return out, problems, nil
}

// otlpFiles decodes every OTLP file below prefix (JSON or protobuf, told by
// the extension, decompressed as the extension says) and returns the
// points of names and records of hosts in nanoseconds. dirProblem checks
// each point's or record's file against its partition.
func otlpFiles(t *testing.T, mirror *S3Mirror, objs []s3test.Object, prefix string, names, hosts []string,
	dirProblem func(rel, signal string, t int64, res map[string]string) string,
) (points []flatMetric, records []flatLog, problems []string) {
	t.Helper()
	for _, o := range objs {
		rel, ok := strings.CutPrefix(o.Key, prefix)
		if !ok {
			continue
		}
		body, err := decompressOTLP(o.Key, readMirrored(t, mirror, o.Key))
		require.NoError(t, err, o.Key)
		proto := strings.Contains(o.Key, ".binpb")
		if !proto && (len(body) == 0 || body[len(body)-1] != '\n' || strings.Count(string(body), "\n") != 1) {
			problems = append(problems, o.Key+": an OTLP/JSON file should be one line ending in a newline (JSON Lines)")
		}
		signal, _, _ := strings.Cut(rel, "/")
		switch signal {
		case "metrics":
			var md pmetric.Metrics
			if proto {
				md, err = (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(body)
			} else {
				md, err = (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(body)
			}
			require.NoError(t, err, o.Key)
			for _, p := range flattenMetrics(md, time.Nanosecond, names) {
				points = append(points, p)
				if pr := dirProblem(rel, signal, p.Time, p.Resource); pr != "" {
					problems = append(problems, pr)
				}
			}
		case "logs":
			var ld plog.Logs
			if proto {
				ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body)
			} else {
				ld, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
			}
			require.NoError(t, err, o.Key)
			for _, l := range flattenLogs(ld, time.Nanosecond, hosts) {
				records = append(records, l)
				filed := l.Time
				if filed == 0 {
					filed = l.Observed
				}
				if pr := dirProblem(rel, signal, filed, l.Resource); pr != "" {
					problems = append(problems, pr)
				}
			}
		default:
			problems = append(problems, o.Key+": not below metrics/ or logs/")
		}
	}
	return points, records, problems
}

func readMirrored(t *testing.T, mirror *S3Mirror, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mirror.Dir, filepath.FromSlash(key)))
	require.NoError(t, err)
	return b
}

func metricKeys(ps []flatMetric) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.key()
	}
	return out
}

func logKeys(ls []flatLog) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.key()
	}
	return out
}

// TestS3ParquetAndOTLP runs local.yaml with its s3 exporter pointed at a
// real S3 server (versitygw) instead of a folder, plus two more s3
// exporters in the same pipelines writing otlp_json (gzip, default layout,
// under a prefix) and otlp_proto (zstd, a custom layout). It sends two
// scrapes of three hosts' GPU metrics (every point type) and log records
// over OTLP/gRPC, then reads every object back: Parquet with DuckDB
// (hive partitioning on), OTLP with the pdata unmarshalers. Each reader
// must find every data point and record exactly once with all its values,
// attributes and times (microseconds in Parquet, nanoseconds and exemplars
// in OTLP), each file in the partition of its contents.
func TestS3ParquetAndOTLP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := s3test.Start(t)
	const bucket = "gpu-telemetry"
	srv.CreateBucket(t, bucket)

	// The extra exporters keep the default in-memory queue; only its
	// flush is shortened, as ACCELTEL_S3_FLUSH_TIMEOUT does for `s3`.
	quick := map[string]any{"batch": map[string]any{"flush_timeout": "300ms"}}
	jsonExp := S3Exporter(srv, bucket)
	jsonExp["prefix"] = "otlp/json"
	jsonExp["format"] = "otlp_json"
	jsonExp["compression"] = "gzip"
	jsonExp["sending_queue"] = quick
	protoExp := S3Exporter(srv, bucket)
	protoExp["prefix"] = "otlp/proto/" // a trailing slash is trimmed
	protoExp["format"] = "otlp_proto"
	protoExp["partition"] = "{signal}/{year}/{month}/{day}/ns={k8s.namespace.name}"
	protoExp["sending_queue"] = quick
	overlay := WriteConfig(t, map[string]any{
		"exporters": map[string]any{
			"s3":            S3Exporter(srv, bucket),
			"s3/otlp_json":  jsonExp,
			"s3/otlp_proto": protoExp,
		},
		"service": map[string]any{"pipelines": map[string]any{
			"metrics": map[string]any{"exporters": []string{"prometheus", "s3", "s3/otlp_json", "s3/otlp_proto"}},
			"logs":    map[string]any{"exporters": []string{"debug", "s3", "s3/otlp_json", "s3/otlp_proto"}},
		}},
	})
	col := StartCollectorWith(t, configPath(t, "local.yaml"), CollectorOptions{
		Name: "collector",
		Env:  []string{"ACCELTEL_S3_FLUSH_TIMEOUT=300ms"},
		Args: []string{"--config", overlay},
	})
	client := newOTLPClient(t, col.OTLPGRPC)

	// Two scrapes 10 s apart, a few minutes ago, with nanoseconds that
	// Parquet's microseconds cut and OTLP keeps.
	start := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
	wantMetrics, wantLogs := pmetric.NewMetrics(), plog.NewLogs()
	for round := range 2 {
		ts := start.Add(time.Duration(round+1)*10*time.Second + 123_456_789)
		md, ld := gpuFleetMetrics(round, start, ts), gpuFleetLogs(round, ts)
		md.ResourceMetrics().MoveAndAppendTo(wantMetrics.ResourceMetrics())
		ld.ResourceLogs().MoveAndAppendTo(wantLogs.ResourceLogs())
		// A copy of its own is sent, so that nothing on the way can
		// change the expectation.
		md, ld = gpuFleetMetrics(round, start, ts), gpuFleetLogs(round, ts)
		require.NoError(t, client.sendMetrics(ctx, md))
		require.NoError(t, client.sendLogs(ctx, ld))
	}
	names := gpuFleetMetricNames
	wantPointsNs := metricKeys(flattenMetrics(wantMetrics, time.Nanosecond, names))
	wantPointsUs := metricKeys(flattenMetrics(wantMetrics, time.Microsecond, names))
	wantRecordsNs := logKeys(flattenLogs(wantLogs, time.Nanosecond, s3Hosts))
	wantRecordsUs := logKeys(flattenLogs(wantLogs, time.Microsecond, s3Hosts))
	// Per round and host: 7 points of each of two GPUs, 1 of the
	// trainer; 3 records.
	require.Equal(t, 2*len(s3Hosts)*(2*7+1), len(wantPointsNs))
	require.Equal(t, 2*len(s3Hosts)*3, len(wantRecordsNs))

	protoFile := regexp.MustCompile(`^part-[0-9a-f-]{36}\.binpb\.zst$`)
	// The proto exporter's layout: date fields of each point's time and
	// the namespace, which the trainer's resource and the logs lack.
	protoDir := func(rel, signal string, t int64, res map[string]string) string {
		at := time.Unix(0, t).UTC()
		ns, ok := res["k8s.namespace.name"]
		if !ok {
			ns = "__HIVE_DEFAULT_PARTITION__"
		}
		want := path.Join(signal, at.Format("2006/01/02"), "ns="+hiveEscape(ns))
		if path.Dir(rel) != want || !protoFile.MatchString(path.Base(rel)) {
			return fmt.Sprintf("%s holds a %s point of %v at %s: want %s/part-<uuid>.binpb.zst", rel, signal, res, at, want)
		}
		return ""
	}
	jsonDir := func(rel, signal string, t int64, res map[string]string) string {
		return partitionProblem(rel, signal, t, time.Nanosecond, res["host.name"])
	}

	// Poll until every reader has as many points and records as were
	// sent (the exporters flush on their own clocks), then compare
	// exactly: a wrong, missing or doubled point fails, it is not waited
	// out.
	root := RepoRoot(t)
	mirror := NewS3Mirror(t, srv, bucket)
	type readers struct {
		pqPoints, jsonPoints, protoPoints    []flatMetric
		pqRecords, jsonRecords, protoRecords []flatLog
		problems                             []string
		objects                              []s3test.Object
	}
	var got readers
	require.NoError(t, Eventually(ctx, 500*time.Millisecond, func() error {
		var r readers
		r.objects = mirror.Sync(t, "")
		var p1, p2, p3, p4 []string
		r.jsonPoints, r.jsonRecords, p1 = otlpFiles(t, mirror, r.objects, "otlp/json/", names, s3Hosts, jsonDir)
		r.protoPoints, r.protoRecords, p2 = otlpFiles(t, mirror, r.objects, "otlp/proto/", names, s3Hosts, protoDir)
		for reader, n := range map[string][2]int{
			"otlp_json": {len(r.jsonPoints), len(r.jsonRecords)}, "otlp_proto": {len(r.protoPoints), len(r.protoRecords)},
		} {
			if n[0] < len(wantPointsNs) || n[1] < len(wantRecordsNs) {
				return fmt.Errorf("%s: %d of %d points, %d of %d records so far", reader, n[0], len(wantPointsNs), n[1], len(wantRecordsNs))
			}
		}
		var err error
		if r.pqPoints, p3, err = parquetMetrics(root, mirror, names); err != nil {
			return err
		}
		if r.pqRecords, p4, err = parquetLogs(root, mirror, s3Hosts); err != nil {
			return err
		}
		if len(r.pqPoints) < len(wantPointsUs) || len(r.pqRecords) < len(wantRecordsUs) {
			return fmt.Errorf("parquet: %d of %d points, %d of %d records so far", len(r.pqPoints), len(wantPointsUs), len(r.pqRecords), len(wantRecordsUs))
		}
		r.problems = append(append(append(p1, p2...), p3...), p4...)
		got = r
		return nil
	}))

	assert.NoError(t, exactlyOnce("parquet metrics (DuckDB)", wantPointsUs, metricKeys(got.pqPoints)))
	assert.NoError(t, exactlyOnce("parquet logs (DuckDB)", wantRecordsUs, logKeys(got.pqRecords)))
	assert.NoError(t, exactlyOnce("otlp_json metrics", wantPointsNs, metricKeys(got.jsonPoints)))
	assert.NoError(t, exactlyOnce("otlp_json logs", wantRecordsNs, logKeys(got.jsonRecords)))
	assert.NoError(t, exactlyOnce("otlp_proto metrics", wantPointsNs, metricKeys(got.protoPoints)))
	assert.NoError(t, exactlyOnce("otlp_proto logs", wantRecordsNs, logKeys(got.protoRecords)))
	assert.Empty(t, got.problems, "layout and column problems")

	// Every object is a file of one of the three exporters, named as its
	// format says; the escaped host is a directory of its own.
	keys := map[string]int{}
	for _, o := range got.objects {
		switch {
		case strings.HasPrefix(o.Key, "otlp/json/"):
			assert.Regexp(t, `\.json\.gz$`, o.Key)
			keys["otlp_json"]++
		case strings.HasPrefix(o.Key, "otlp/proto/"):
			assert.Regexp(t, `\.binpb\.zst$`, o.Key)
			keys["otlp_proto"]++
		default:
			assert.Regexp(t, `^(metrics|logs)/.*\.parquet$`, o.Key)
			keys["parquet"]++
		}
	}
	t.Logf("objects: %v", keys)
	escaped := false
	for _, o := range got.objects {
		escaped = escaped || strings.Contains(o.Key, "/host.name=rack-7%2Fdgx%3A03/")
	}
	assert.True(t, escaped, "no object of host rack-7/dgx:03 under host.name=rack-7%%2Fdgx%%3A03/")

	// A query of the README's kind, as users run it: per-GPU energy over
	// the two scrapes (7000.5 J plus the quarter that v grows by a round),
	// with the decoded hive column "host.name" as the filter.
	rows := DuckDB(t, `SELECT hw_id, (max(value) - min(value)) AS joules
		FROM read_parquet(`+mirror.Glob("metrics")+`, hive_partitioning = true)
		WHERE metric_name = 'hw.energy' AND "host.name" = 'rack-7/dgx:03'
		GROUP BY hw_id ORDER BY hw_id`)
	require.Len(t, rows, 2)
	for _, r := range rows {
		assert.InDelta(t, 7000.75, r["joules"], 1e-6, "%v", r)
	}

	require.NoError(t, col.Stop(15*time.Second))
	assert.NotContains(t, col.Output(), "panic")
}
