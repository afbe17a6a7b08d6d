package ncclreceiver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// BenchmarkDecodeAggregate is the receiver's per-record cost: decode full
// datagrams of 60 records and fold them into the series, as the read loop
// does. records/s is the figure the README quotes.
func BenchmarkDecodeAggregate(b *testing.B) {
	var recs []record
	fns := []string{"AllReduce", "AllGather", "ReduceScatter", "Broadcast", "Send", "Recv"}
	for i := range 60 {
		r := sampleRecord(fns[i%len(fns)], 8)
		r.Rank = int32(i % 8)
		r.Seq = uint64(i)
		recs = append(recs, r)
	}
	dgram := encode(0, recs...)
	st := newState()
	out := make([]record, 0, 64)
	b.SetBytes(int64(len(dgram)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var errs []wireError
		out, _, errs = decodeDatagram(dgram, out[:0])
		if len(errs) > 0 || len(out) != 60 {
			b.Fatal(errs)
		}
		st.add(1234, out, 0, testNow, nil)
	}
	b.ReportMetric(float64(b.N)*60/b.Elapsed().Seconds(), "records/s")
}

var costRE = regexp.MustCompile(`ns_per_callback=([\d.]+) ns_per_op=([\d.]+)`)

// BenchmarkPluginHostCost runs the C harness with nobody listening: what
// the plugin costs NCCL's threads per profiler callback (start, stop,
// record state) and per operation (8 callbacks), in steady state.
func BenchmarkPluginHostCost(b *testing.B) {
	so, h := buildNative(b)
	sock := filepath.Join(b.TempDir(), "none.sock")
	for range b.N {
		cmd := exec.CommandContext(context.Background(), h, so, "5", "1", "200000")
		cmd.Env = append(os.Environ(), "ACCELTEL_NCCL_SOCKET="+sock)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		m := costRE.FindStringSubmatch(string(out))
		if m == nil {
			b.Fatalf("harness output: %s", out)
		}
		cb, _ := strconv.ParseFloat(m[1], 64)
		op, _ := strconv.ParseFloat(m[2], 64)
		b.ReportMetric(cb, "ns/callback")
		b.ReportMetric(op, "ns/op-plugin")
	}
}
