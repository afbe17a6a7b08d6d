package ncclreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/acceltel/acceltel/receivers/ncclreceiver/internal/metadata"
)

// checkScrapedMetrics asserts what every scrape must satisfy whatever was fed in:
// finite numbers, monotonic sums that are not negative, histograms whose
// buckets add up to their count.
func checkScrapedMetrics(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps := m.Sum().DataPoints()
					for l := range dps.Len() {
						v := numberValue(dps.At(l))
						if math.IsNaN(v) || math.IsInf(v, 0) || (m.Sum().IsMonotonic() && v < 0) {
							t.Fatalf("%s: bad counter value %v", m.Name(), v)
						}
					}
				case pmetric.MetricTypeGauge:
					dps := m.Gauge().DataPoints()
					for l := range dps.Len() {
						if v := numberValue(dps.At(l)); math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("%s: bad gauge value %v", m.Name(), v)
						}
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for l := range dps.Len() {
						dp := dps.At(l)
						var n uint64
						for _, c := range dp.BucketCounts().AsRaw() {
							n += c
						}
						if n != dp.Count() || dp.BucketCounts().Len() != dp.ExplicitBounds().Len()+1 {
							t.Fatalf("%s: %d buckets hold %d, count %d", m.Name(), dp.BucketCounts().Len(), n, dp.Count())
						}
						if math.IsNaN(dp.Sum()) || math.IsInf(dp.Sum(), 0) || dp.Sum() < 0 {
							t.Fatalf("%s: sum %v", m.Name(), dp.Sum())
						}
					}
				}
			}
		}
	}
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// sumOf adds the points of a sum metric over every resource.
func sumOf(md pmetric.Metrics, name string) int64 {
	var total int64
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				if m := ms.At(k); m.Name() == name {
					for l := range m.Sum().DataPoints().Len() {
						total += m.Sum().DataPoints().At(l).IntValue()
					}
				}
			}
		}
	}
	return total
}

func newFuzzReceiver(t *testing.T) *ncclReceiver {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	return newNCCLReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
}

// FuzzDecodeDatagram feeds the receiver what any local process may send to
// its socket. A datagram is decoded into records or counted as malformed,
// never both lost and uncounted; every accepted record re-encodes into the
// bytes it came from (record.h, the reserved field aside); the aggregates
// and the scrape built from them stay finite, non-negative and exact.
func FuzzDecodeDatagram(f *testing.F) {
	f.Add(encode(0, sampleRecord("AllReduce", 8)))
	f.Add(encode(5, sampleRecord("AllGather", 2), sampleRecord("Recv", 0)))
	p2p := sampleRecord("Send", 8)
	p2p.Kind, p2p.Peer, p2p.Flags = kindP2P, 3, 0
	f.Add(encode(1, p2p, sampleRecord("ReduceScatter", 8), sampleRecord("Broadcast", 4)))
	f.Add(encode(0))
	f.Add([]byte{})
	f.Add([]byte("ANCL\x01\x00\x88\x00\xff\xff"))
	longer := make([]byte, headerSize+recordSize+8)
	copy(longer, encode(0, sampleRecord("AllReduce", 4)))
	binary.LittleEndian.PutUint16(longer[6:], recordSize+8)
	f.Add(longer)
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, dropped, errs := decodeDatagram(b, nil)
		bad := 0
		for _, e := range errs {
			if _, known := reasons[e.reason]; e.n <= 0 || !known {
				t.Fatalf("error %+v", e)
			}
			bad += e.n
		}
		if len(recs) == 0 && bad == 0 && len(b) != headerSize {
			t.Fatalf("%d bytes neither decoded nor counted", len(b))
		}
		headerOK := len(errs) == 0 || errs[0].reason == "field"
		if !headerOK && (len(recs) > 0 || len(errs) != 1) {
			t.Fatalf("a bad header rejects the whole datagram, got %d records and %d errors", len(recs), len(errs))
		}
		if headerOK {
			count := int(binary.LittleEndian.Uint16(b[8:]))
			size := int(binary.LittleEndian.Uint16(b[6:]))
			if len(recs)+bad != count {
				t.Fatalf("%d records: %d accepted + %d rejected", count, len(recs), bad)
			}
			if dropped != binary.LittleEndian.Uint32(b[12:]) {
				t.Fatalf("dropped %d", dropped)
			}
			// Accepted records keep their order; each re-encodes to its slot.
			slot := 0
			for i := range recs {
				if why := recs[i].check(); why != "" {
					t.Fatalf("invalid record accepted (%s): %+v", why, recs[i])
				}
				enc := encode(0, recs[i])[headerSize:]
				for ; slot < count; slot++ {
					in := b[headerSize+slot*size : headerSize+slot*size+recordSize]
					if bytes.Equal(in[:76], enc[:76]) && bytes.Equal(in[80:], enc[80:]) {
						break
					}
				}
				if slot == count {
					t.Fatalf("record %d does not re-encode to any remaining input slot: %+v", i, recs[i])
				}
				slot++
			}
		}
		var wantBytes int64
		for i := range recs {
			algbw, busbw := bandwidths(&recs[i])
			if math.IsNaN(algbw) || math.IsInf(algbw, 0) || algbw < 0 || math.IsNaN(busbw) || math.IsInf(busbw, 0) || busbw < 0 {
				t.Fatalf("bandwidths %v, %v of %+v", algbw, busbw, recs[i])
			}
			wantBytes += int64(recs[i].Bytes)
		}
		// Whatever decodes aggregates and scrapes into sane metrics.
		r := newFuzzReceiver(t)
		r.st.add(1, recs, dropped, time.Now(), nil) // now: the scrape expires silent processes
		md, err := r.scrape(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkScrapedMetrics(t, md)
		if got := sumOf(md, "nccl.operation.count"); got != int64(len(recs)) {
			t.Fatalf("nccl.operation.count adds up to %d for %d records", got, len(recs))
		}
		if got := sumOf(md, "nccl.operation.bytes"); got != wantBytes {
			t.Fatalf("nccl.operation.bytes adds up to %d, records say %d", got, wantBytes)
		}
	})
}

// inspectorRef is what an Inspector line says, read independently of
// parseInspectorLine, with the arithmetic done exactly.
type inspectorRef struct {
	CollPerf *struct {
		Coll         string      `json:"coll"`
		MsgSize      json.Number `json:"coll_msg_size_bytes"`
		EventTraceTs *struct {
			CollStartTs  json.Number `json:"coll_start_ts"`
			KernelEvents []struct {
				KernelStopTs json.Number `json:"kernel_stop_ts"`
			} `json:"kernel_events"`
		} `json:"event_trace_ts"`
	} `json:"coll_perf"`
}

func bigOf(n json.Number) *big.Int {
	v, ok := new(big.Int).SetString(string(n), 10)
	if !ok {
		return new(big.Int)
	}
	return v
}

// encodeInspector writes a record as an Inspector line (verbose when it has
// a start time), the inverse of parseInspectorLine.
func encodeInspector(r record) []byte {
	fn := cstr(r.Func[:])
	msg := r.Bytes
	if (strings.EqualFold(fn, "AllGather") || strings.EqualFold(fn, "ReduceScatter")) && r.NRanks > 0 {
		msg /= uint64(r.NRanks)
	}
	perf := map[string]any{
		"coll": fn, "coll_sn": r.Seq, "coll_msg_size_bytes": msg,
		"coll_exec_time_us": float64(r.ExecNs) / 1e3, "coll_timing_source": "kernel_gpu",
	}
	if r.StartUnixNs > 0 {
		trace := map[string]any{"coll_start_ts": r.StartUnixNs / 1000}
		// Without a kernel stop after the start, the duration is the
		// execution time; with one, a whole number of microseconds.
		if r.DurationNs > 0 && r.DurationNs%1000 == 0 {
			trace["kernel_events"] = []map[string]any{{"channel_id": 0, "kernel_stop_ts": r.StartUnixNs/1000 + r.DurationNs/1000}}
		}
		perf["event_trace_ts"] = trace
	}
	b, err := json.Marshal(map[string]any{
		"header":    map[string]any{"id": commIDString(r.CommID), "rank": r.Rank, "n_ranks": r.NRanks, "nnodes": r.NNodes},
		"metadata":  map[string]any{"inspector_output_format_version": "v4.0", "pid": r.PID},
		"coll_perf": perf,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzInspectorLine feeds parseInspectorLine what an NCCL Inspector file may
// hold. A line gives a valid record or an error, never both; sizes and times
// are exact (no wrap-around in the unit conversions); an accepted record
// written back as an Inspector line parses to itself.
func FuzzInspectorLine(f *testing.F) {
	for _, name := range []string{"example-hostname-pid1639453.jsonl", "node1-pid1001.log", "node1-pid1002.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", "inspector", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range splitLines(b) {
			f.Add(bytes.Clone(l))
		}
	}
	f.Add([]byte(`{"header":{"id":"0x1","rank":0,"n_ranks":2,"nnodes":1},"metadata":{"pid":7},"coll_perf":{"coll":"AllGather","coll_sn":1,"coll_msg_size_bytes":4611686018427387904,"coll_exec_time_us":4.35}}`))
	f.Add([]byte(`{"header":{"id":"0x1","rank":0,"n_ranks":2,"nnodes":1},"metadata":{"pid":7},"coll_perf":{"coll":"AllReduce","coll_exec_time_us":1,"event_trace_ts":{"coll_start_ts":18446744073709551,"kernel_events":[{"kernel_stop_ts":18446744073709552}]}}}`))
	f.Add([]byte(`{"header":{"id":"0x1","rank":0,"n_ranks":1},"coll_perf":{"coll":"Broadcast","coll_exec_time_us":1,"event_trace_ts":{"coll_start_ts":1,"kernel_events":[{"kernel_stop_ts":18446744073709551615}]}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := parseInspectorLine(line)
		if err != nil {
			if r != (record{}) {
				t.Fatalf("both a record and an error (%v): %+v", err, r)
			}
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if why := r.check(); why != "" {
			t.Fatalf("invalid record accepted (%s): %+v", why, r)
		}
		if r.Kind != kindColl || r.CUDADev != -1 || r.Peer != -1 || r.Flags != flagGPUTimer {
			t.Fatalf("fixed fields: %+v", r)
		}
		if algbw, busbw := bandwidths(&r); math.IsNaN(algbw) || math.IsInf(algbw, 0) || algbw < 0 || math.IsNaN(busbw) || math.IsInf(busbw, 0) || busbw < 0 {
			t.Fatalf("bandwidths %v, %v of %+v", algbw, busbw, r)
		}
		// Sizes and times against exact arithmetic.
		var ref inspectorRef
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&ref); err != nil {
			t.Fatalf("parseInspectorLine accepted what encoding/json rejects: %v", err)
		}
		wantBytes := bigOf(ref.CollPerf.MsgSize)
		if fn := ref.CollPerf.Coll; (strings.EqualFold(fn, "AllGather") || strings.EqualFold(fn, "ReduceScatter")) && r.NRanks > 0 {
			wantBytes.Mul(wantBytes, big.NewInt(int64(r.NRanks)))
		}
		if !wantBytes.IsUint64() || wantBytes.Uint64() != r.Bytes {
			t.Fatalf("bytes %d, exactly %s", r.Bytes, wantBytes)
		}
		if tr := ref.CollPerf.EventTraceTs; tr != nil && bigOf(tr.CollStartTs).Sign() > 0 {
			start := new(big.Int).Mul(bigOf(tr.CollStartTs), big.NewInt(1000))
			if !start.IsUint64() || start.Uint64() != r.StartUnixNs {
				t.Fatalf("start %d ns, exactly %s", r.StartUnixNs, start)
			}
			stop := new(big.Int)
			for _, k := range tr.KernelEvents {
				if s := bigOf(k.KernelStopTs); s.Cmp(stop) > 0 {
					stop = s
				}
			}
			if stop.Cmp(bigOf(tr.CollStartTs)) > 0 {
				d := new(big.Int).Sub(stop, bigOf(tr.CollStartTs))
				d.Mul(d, big.NewInt(1000))
				if !d.IsUint64() || d.Uint64() != r.DurationNs {
					t.Fatalf("duration %d ns, exactly %s", r.DurationNs, d)
				}
			}
		}
		// Written back as Inspector writes it, the line reads the same.
		again, err := parseInspectorLine(encodeInspector(r))
		if err != nil {
			t.Fatalf("re-encoded record rejected: %v\n%s", err, encodeInspector(r))
		}
		if again != r {
			t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", again, r, encodeInspector(r))
		}
	})
}

// FuzzInspectorTailer appends two chunks to an Inspector file between polls:
// the tailer hands over exactly the complete lines, in order, each once,
// however the chunks cut them.
func FuzzInspectorTailer(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "inspector", "node1-pid1001.log"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:100], b[100:])
	f.Add(b, []byte{})
	f.Add([]byte("{}\n\n{\"a\""), []byte(":1}\r\nlast without newline"))
	f.Add([]byte{}, []byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a)+len(b) > maxPartial {
			t.Skip("lines longer than maxPartial are cut on purpose")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "host-pid1.log")
		tl := newInspectorTailer(dir)
		var got [][]byte
		collect := func(_ string, l []byte) { got = append(got, bytes.Clone(l)) }
		if err := tl.poll(collect); err != nil { // no file yet: later files are read from their start
			t.Fatal(err)
		}
		for _, chunk := range [][]byte{a, b} {
			fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.Write(chunk); err != nil {
				t.Fatal(err)
			}
			if err := fh.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tl.poll(collect); err != nil {
				t.Fatal(err)
			}
		}
		all := append(bytes.Clone(a), b...)
		want := bytes.Split(all, []byte("\n"))
		want = want[:len(want)-1] // the unterminated rest waits for its newline
		if len(got) != len(want) {
			t.Fatalf("%d lines delivered, %d complete lines written", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d: got %q, want %q", i, got[i], want[i])
			}
		}
		rest := all[bytes.LastIndexByte(all, '\n')+1:]
		if p := tl.files[path]; p == nil || !bytes.Equal(p.partial, rest) {
			t.Fatalf("partial line kept: %+v, want %q", p, rest)
		}
	})
}
