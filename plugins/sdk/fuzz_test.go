package sdk

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/acceltel/acceltel/plugins/sdk/proto/benchv1"
)

// FuzzParseBytes: a byte count is never negative and is exactly the number
// times its suffix (no wrap-around), and the count written back in plain
// digits or in GiB reads the same.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"4096", "64MiB", "1GB", " 2 GiB ", "0B", "-1", "3 parsecs", "9223372036854775807",
		"9223372036854775807KiB", "8589934592GiB", "1.5GB", "+7KB", "KiB", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseBytes(%q) = %d and %v", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
		num, mult := strings.TrimSpace(s), int64(1)
		for _, suf := range byteSuffixes {
			if strings.HasSuffix(num, suf.s) {
				num, mult = strings.TrimSpace(strings.TrimSuffix(num, suf.s)), suf.m
				break
			}
		}
		exact, ok := new(big.Int).SetString(strings.TrimPrefix(num, "+"), 10)
		if !ok {
			t.Fatalf("ParseBytes(%q) = %d, but %q is no integer", s, n, num)
		}
		exact.Mul(exact, big.NewInt(mult))
		if !exact.IsInt64() || exact.Int64() != n {
			t.Fatalf("ParseBytes(%q) = %d, exactly %s", s, n, exact)
		}
		if again, err := ParseBytes(strconv.FormatInt(n, 10)); err != nil || again != n {
			t.Fatalf("%d written back reads %d, %v", n, again, err)
		}
		if n%(1<<30) == 0 {
			if again, err := ParseBytes(strconv.FormatInt(n>>30, 10) + "GiB"); err != nil || again != n {
				t.Fatalf("%d written in GiB reads %d, %v", n, again, err)
			}
		}
	})
}

// FuzzMeasurement feeds the host what a plugin's Run stream may carry. A
// measurement keeps its name, unit, value and attributes exactly; its
// duration is never negative (unknown, 0, when the plugin sent a negative,
// NaN or out-of-range one) and its peak is 0 (unknown) or positive and
// finite; sent on again, it is the message that came in.
func FuzzMeasurement(f *testing.F) {
	for _, m := range []*pb.Measurement{
		{Name: "memory.bandwidth", Unit: "By/s", Value: 1.2e11, Attributes: map[string]string{"kernel": "triad"}, ReferencePeak: proto.Float64(3.35e12), DurationSeconds: 2.5},
		{Name: "fma.flops", Unit: "{flop}/s", Value: 3e12, DurationSeconds: 1},
		{Name: "x", Unit: "1", Value: math.NaN(), ReferencePeak: proto.Float64(-1), DurationSeconds: -3},
		{Name: "y", Unit: "s", Value: math.Inf(1), ReferencePeak: proto.Float64(math.Inf(1)), DurationSeconds: 1e300},
		{DurationSeconds: math.NaN()},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in pb.Measurement
		if err := proto.Unmarshal(b, &in); err != nil {
			return // gRPC would have refused the message
		}
		m := measurementFromProto(&in)
		if m.Duration < 0 {
			t.Fatalf("duration %v from %v s", m.Duration, in.GetDurationSeconds())
		}
		if s := in.GetDurationSeconds(); s >= 0 && s*1e9 < math.MaxInt64 {
			if d := m.Duration.Seconds(); math.Abs(d-s) > 2e-9+1e-15*s {
				t.Fatalf("duration %v from %v s", m.Duration, s)
			}
		}
		if m.Peak != 0 && !(m.Peak > 0 && !math.IsInf(m.Peak, 1)) {
			t.Fatalf("peak %v", m.Peak)
		}
		if p := in.GetReferencePeak(); p > 0 && !math.IsInf(p, 1) && m.Peak != p {
			t.Fatalf("peak %v from %v", m.Peak, p)
		}
		out := measurementToProto(m)
		if out.GetName() != in.GetName() || out.GetUnit() != in.GetUnit() ||
			math.Float64bits(out.GetValue()) != math.Float64bits(in.GetValue()) || len(out.GetAttributes()) != len(in.GetAttributes()) {
			t.Fatalf("sent on as %v, came in as %v", out, &in)
		}
		for k, v := range in.GetAttributes() {
			if out.GetAttributes()[k] != v {
				t.Fatalf("attribute %q: %q became %q", k, v, out.GetAttributes()[k])
			}
		}
		if out.ReferencePeak != nil && out.GetReferencePeak() != m.Peak || out.ReferencePeak == nil && m.Peak != 0 {
			t.Fatalf("peak %v sent on as %v", m.Peak, out.ReferencePeak)
		}
	})
}

// FuzzDescribe feeds the host what a plugin's Describe may answer, and a
// parameter a user may set. The answer survives conversion both ways; a
// run's parameters are either refused with an error or complete, declared
// and of their declared type, so the typed getters never fail, the
// plugin's own defaults included.
func FuzzDescribe(f *testing.F) {
	info := Info{Name: "hostbench", Version: "1.0.0", Benchmarks: []Benchmark{{
		Name: "memory.stream", Description: "STREAM", Units: []string{"By/s"},
		Parameters: []Parameter{
			{Name: "size", Type: Bytes, Default: "64MiB", Unit: "By"},
			{Name: "duration", Type: Duration, Default: "2s", Unit: "s"},
			{Name: "threads", Type: Int, Default: "0"},
		},
	}, {
		Name: "gpu.gemm", RequiredCapabilities: []string{"cuda"},
		Parameters: []Parameter{{Name: "ratio", Type: Double, Default: "0.5"}, {Name: "tf32", Type: Bool}, {Name: "label", Type: String}},
	}, {
		Name: "bad.defaults", Parameters: []Parameter{{Name: "n", Type: Int, Default: "many"}, {Name: "odd", Type: ParamType(42), Default: "?"}},
	}}}
	b, err := proto.Marshal(infoToProto(info))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, "size", "256MiB")
	f.Add(b, "threads", "8")
	f.Add(b, "duration", "soon")
	f.Add(b, "ratio", "NaN")
	f.Add(b, "n", "3")
	f.Add(b, "odd", "x")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, b []byte, key, value string) {
		var in pb.DescribeResponse
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &in); err != nil {
			return
		}
		got := infoFromProto(&in)
		if back := infoToProto(got); !proto.Equal(back, &in) {
			t.Fatalf("Describe answer changed in conversion:\n got %v\nwant %v", back, &in)
		}
		raw := map[string]string{key: value}
		for _, bench := range got.Benchmarks {
			p, err := CheckParams(bench, raw)
			if err != nil {
				if p != nil {
					t.Fatalf("CheckParams returned both %v and %v", p, err)
				}
				continue
			}
			if p[key] != value {
				t.Fatalf("parameter %q = %q, set to %q", key, p[key], value)
			}
			declared := map[string]ParamType{}
			for _, d := range bench.Parameters {
				declared[d.Name] = d.Type
			}
			for name, v := range p {
				typ, ok := declared[name]
				if !ok {
					t.Fatalf("undeclared parameter %q accepted", name)
				}
				if err := checkValue(typ, v); err != nil {
					t.Fatalf("parameter %q = %q is not of its type %d: %v", name, v, typ, err)
				}
			}
			for _, d := range bench.Parameters {
				if _, ok := p[d.Name]; d.Default != "" && !ok {
					t.Fatalf("default of %q missing", d.Name)
				}
			}
		}
	})
}
