package ncclreceiver

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// The samples in testdata/inspector follow the format of NVIDIA's NCCL
// Inspector README (NVIDIA/nccl ext-profiler/inspector/README.md, output
// format v4.0); see testdata/inspector/README.md.

func copySamples(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"node1-pid1001.log", "node1-pid1002.log", "example-hostname-pid1639453.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", "inspector", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(line)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestParseInspectorLine(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "inspector", "example-hostname-pid1639453.jsonl"))
	require.NoError(t, err)
	lines := splitLines(b)
	require.Len(t, lines, 5)

	ar, err := parseInspectorLine(lines[0])
	require.NoError(t, err)
	assert.Equal(t, uint64(0x7f8c496ae9f661), ar.CommID)
	assert.Equal(t, "AllReduce", cstr(ar.Func[:]))
	assert.Equal(t, uint64(1407), ar.Seq)
	assert.Equal(t, int32(2), ar.Rank)
	assert.Equal(t, int32(8), ar.NRanks)
	assert.Equal(t, int32(1), ar.NNodes)
	assert.Equal(t, int32(1639453), ar.PID)
	assert.Equal(t, uint64(17179869184), ar.Bytes)
	assert.Equal(t, uint64(61974_000), ar.ExecNs)
	assert.Zero(t, ar.StartUnixNs, "not verbose: no start")
	algbw, busbw := bandwidths(&ar)
	assert.InEpsilon(t, 277.210914e9, algbw, 1e-6, "Inspector's coll_algobw_gbs")
	assert.InEpsilon(t, 485.119099e9, busbw, 1e-6, "Inspector's coll_busbw_gbs")

	for _, bad := range lines[1:3] {
		_, err := parseInspectorLine(bad)
		assert.Error(t, err, "%s", bad)
	}

	rs, err := parseInspectorLine(lines[4])
	require.NoError(t, err)
	assert.Equal(t, uint64(2147483648*8), rs.Bytes, "nccl-tests size: the whole buffer")
	algbw, busbw = bandwidths(&rs)
	assert.InEpsilon(t, 418.439467e9, algbw, 1e-6, "Inspector's coll_algobw_gbs")
	assert.InEpsilon(t, 366.134533e9, busbw, 1e-6, "Inspector's coll_busbw_gbs")

	b, err = os.ReadFile(filepath.Join("testdata", "inspector", "node1-pid1002.log"))
	require.NoError(t, err)
	v, err := parseInspectorLine(splitLines(b)[0])
	require.NoError(t, err)
	assert.Equal(t, uint64(1752867229245059_000), v.StartUnixNs, "verbose: coll_start_ts")
	assert.Equal(t, uint64((120+5000+2000)*1000), v.DurationNs, "to the last kernel_stop_ts")
	assert.Equal(t, uint64(5000_000), v.ExecNs)

	for _, s := range []string{`{}`, `[1]`, `{"header":{"id":"0x1","rank":3,"n_ranks":2},"coll_perf":{"coll":"AllReduce"}}`,
		`{"header":{"id":"0x1"},"coll_perf":{"coll":"AllReduceWithAVeryLongName"}}`} {
		_, err := parseInspectorLine([]byte(s))
		assert.Error(t, err, s)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

func TestInspectorTailer(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old-pid1.log")
	appendLine(t, old, "{\"before\": \"the collector\"}\n")
	tl := newInspectorTailer(dir)
	var got []string
	collect := func(_ string, b []byte) { got = append(got, string(b)) }
	require.NoError(t, tl.poll(collect))
	assert.Empty(t, got, "files there at the first poll start at their end")

	copySamples(t, dir)
	appendLine(t, old, "A\n")
	require.NoError(t, tl.poll(collect))
	assert.Len(t, got, 3+3+5+1)

	got = nil
	path := filepath.Join(dir, "node1-pid1001.log")
	appendLine(t, path, `{"half": `)
	require.NoError(t, tl.poll(collect))
	assert.Empty(t, got, "no newline yet")
	appendLine(t, path, "\"line\"}\nB\n")
	require.NoError(t, tl.poll(collect))
	assert.Equal(t, []string{`{"half": "line"}`, "B"}, got)

	got = nil
	require.NoError(t, os.WriteFile(path, []byte("C\n"), 0o600)) // truncated
	require.NoError(t, tl.poll(collect))
	assert.Equal(t, []string{"C"}, got)

	got = nil
	require.NoError(t, os.Remove(old))
	require.NoError(t, os.WriteFile(old+".tmp", []byte("D\nE\nF\n"), 0o600))
	require.NoError(t, os.Rename(old+".tmp", old)) // replaced, longer than before
	require.NoError(t, tl.poll(collect))
	assert.Equal(t, []string{"D", "E", "F"}, got)
	assert.Len(t, tl.files, 4)
}

// metricValues maps "collective/rank" to the int value of a sum metric of comm.
func metricValues(md pmetric.Metrics, name, comm string) map[string]int64 {
	out := map[string]int64{}
	for _, m := range metricsNamed(md, name) {
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			a := dps.At(i).Attributes()
			if c, _ := a.Get("nccl.communicator.id"); c.Str() != comm {
				continue
			}
			fn, _ := a.Get("nccl.collective")
			rank, _ := a.Get("nccl.rank")
			out[fn.Str()+"/"+rank.AsString()] += dps.At(i).IntValue()
		}
	}
	return out
}

func malformed(md pmetric.Metrics) map[string]int64 {
	out := map[string]int64{}
	for _, m := range metricsNamed(md, "acceltel.nccl.records.malformed") {
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			reason, _ := dps.At(i).Attributes().Get("error.type")
			out[reason.Str()] = dps.At(i).IntValue()
		}
	}
	return out
}

// The sample files go through the same aggregation as the plugin's
// records: counts, bytes, bandwidth, the completion spread of the two ranks
// of node1, and malformed lines counted as json.
func TestInspectorMetrics(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.Inspector.Directory = dir
	r := newNCCLReceiver(cfg, receivertest.NewNopSettings(typ))
	tl := newInspectorTailer(dir)
	var e1, e2 time.Time
	r.pollInspector(tl, &e1, &e2)
	copySamples(t, dir)
	r.pollInspector(tl, &e1, &e2)

	md, err := r.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"json": 2}, malformed(md))
	assert.Equal(t, map[string]int64{"AllReduce/0": 3, "AllReduce/1": 3}, metricValues(md, "nccl.operation.count", "0xd152c00f111816"))
	assert.Equal(t, map[string]int64{"AllReduce/2": 1}, metricValues(md, "nccl.operation.count", "0x7f8c496ae9f661"))
	assert.Equal(t, map[string]int64{"ReduceScatter/4": 17179869184}, metricValues(md, "nccl.operation.bytes", "0xe62dedaa97644a"))

	var busbw float64
	for _, m := range metricsNamed(md, "nccl.collective.bus_bandwidth") {
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if fn, _ := dps.At(i).Attributes().Get("nccl.collective"); fn.Str() == "ReduceScatter" {
				busbw = dps.At(i).DoubleValue()
			}
		}
	}
	assert.InEpsilon(t, 366.134533e9, busbw, 1e-6)
	require.NotEmpty(t, metricsNamed(md, "nccl.operation.duration"))

	spreads := metricsNamed(md, "nccl.collective.completion.spread")
	require.Len(t, spreads, 1)
	dp := spreads[0].Histogram().DataPoints().At(0)
	assert.Equal(t, uint64(3), dp.Count())
	assert.InDelta(t, 2e-3, dp.Max(), 1e-9)
	assert.InDelta(t, 2e-3, dp.Min(), 1e-9)
	lags := lagsByRank(t, md, "0xd152c00f111816")
	assert.InDelta(t, 1e-3, lags[1], 1e-9, "two ranks: the median is their mean")
	assert.InDelta(t, -1e-3, lags[0], 1e-9)

	// Appended between two polls: only the new line is read.
	appendLine(t, filepath.Join(dir, "example-hostname-pid1639453.jsonl"),
		`{"header":{"id":"0x7f8c496ae9f661","rank":2,"n_ranks":8,"nnodes":1},"metadata":{"pid":1639453},`+
			`"coll_perf":{"coll":"AllReduce","coll_sn":1408,"coll_msg_size_bytes":17179869184,"coll_exec_time_us":61000}}`+"\nnot json\n")
	r.pollInspector(tl, &e1, &e2)
	md, err = r.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"AllReduce/2": 2}, metricValues(md, "nccl.operation.count", "0x7f8c496ae9f661"))
	assert.Equal(t, map[string]int64{"AllReduce/0": 3, "AllReduce/1": 3}, metricValues(md, "nccl.operation.count", "0xd152c00f111816"))
	assert.Equal(t, map[string]int64{"json": 3}, malformed(md))
}

// Started with a directory, the receiver tails it in the background and
// stops tailing at shutdown.
func TestInspectorLifecycle(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.SocketPath = filepath.Join(t.TempDir(), "nccl.sock")
	cfg.Inspector.Directory = dir
	cfg.Inspector.PollInterval = 10 * time.Millisecond
	r := newNCCLReceiver(cfg, receivertest.NewNopSettings(typ))
	var mu sync.Mutex
	seen := 0
	r.onRecords = func(_ int32, recs []record) { mu.Lock(); seen += len(recs); mu.Unlock() }
	require.NoError(t, r.start(context.Background(), componenttest.NewNopHost()))
	path := filepath.Join(dir, "host-pid7.log")
	line := `{"header":{"id":"0x5","rank":0,"n_ranks":1,"nnodes":1},"metadata":{"pid":7},"coll_perf":{"coll":"Broadcast","coll_sn":1,"coll_msg_size_bytes":1024,"coll_exec_time_us":10}}` + "\n"
	// Whatever the first poll finds it skips; keep appending until lines flow.
	require.Eventually(t, func() bool {
		appendLine(t, path, line)
		mu.Lock()
		defer mu.Unlock()
		return seen > 0
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, r.shutdown(context.Background()))
}
