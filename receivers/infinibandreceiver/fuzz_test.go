package infinibandreceiver

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/acceltel/acceltel/receivers/infinibandreceiver/internal/metadata"
)

// seedFiles adds the content of every file of the fixture tree.
func seedFiles(f *testing.F, add func(content []byte)) {
	_ = filepath.WalkDir(filepath.Join("testdata", "host", "sys", "class", "infiniband"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil {
			add(b)
		}
		return nil
	})
}

// FuzzSysfsValue writes one sysfs file and reads it every way the receiver
// reads a file: as a counter, a port state, a physical state and a link
// rate. A counter is exactly what strconv reads from the whole trimmed
// file, never a prefix of it (a file longer than the reader's buffer is an
// error); states are known enum values; a rate is a
// finite, non-negative byte rate that survives being written back.
func FuzzSysfsValue(f *testing.F) {
	seedFiles(f, func(b []byte) { f.Add(b) })
	for _, s := range []string{"18446744073709551615\n", "0x10\n", " 42 \n", "4: ACTIVE", "5: LinkUp", "1:", "7: Phy Test",
		"2.5 Gb/sec (1X SDR)", "800 Gb/sec (4X XDR)", "NaN Gb/sec", "1e300 Gb/sec (4X)", "-0 Gb/sec", "N/A\n",
		"7" + strings.Repeat(" ", 127) + "9\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "value")
	f.Fuzz(func(t *testing.T, content []byte) {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		var r fileReader
		trimmed := string(bytes.TrimSpace(content))
		v, err := r.readUint(path)
		want, werr := strconv.ParseUint(trimmed, 10, 64)
		if werr != nil {
			want = 0 // strconv gives the largest value with a range error
		}
		if len(content) > len(r.buf) { // no sysfs value is that long: an error, never a prefix
			want, werr = 0, strconv.ErrRange
		}
		if (err == nil) != (werr == nil) || v != want {
			t.Fatalf("readUint(%q) = %d, %v; the whole file says %d, %v", content, v, err, want, werr)
		}
		s, err := r.readString(path)
		if err == nil && s != trimmed {
			t.Fatalf("readString(%q) = %q", content, s)
		}
		if err != nil {
			return
		}
		if st, ok := portState(s); ok {
			if _, known := metadata.MapAttributeState[st]; !known {
				t.Fatalf("portState(%q) = %q, not a metric value", s, st)
			}
		}
		if st, ok := physState(s); ok {
			if _, known := metadata.MapAttributePhysState[st]; !known {
				t.Fatalf("physState(%q) = %q, not a metric value", s, st)
			}
		}
		rate, err := linkRate(s)
		if err != nil {
			if rate != 0 {
				t.Fatalf("linkRate(%q) = %d and %v", s, rate, err)
			}
			return
		}
		if rate < 0 {
			t.Fatalf("linkRate(%q) = %d", s, rate)
		}
		gbps := float64(rate) * 8 / 1e9
		again, err := linkRate(strconv.FormatFloat(gbps, 'g', -1, 64) + " Gb/sec (4X)")
		if err != nil || math.Abs(float64(again-rate)) > 1+1e-12*float64(rate) {
			t.Fatalf("linkRate(%q) = %d, written back as %g Gb/sec reads %d, %v", s, rate, gbps, again, err)
		}
	})
}

// points collects the data points of a scrape by metric name and attributes.
func points(t *testing.T, md pmetric.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				monotonic := false
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps, monotonic = m.Sum().DataPoints(), m.Sum().IsMonotonic()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					t.Fatalf("%s: unexpected type %v", m.Name(), m.Type())
				}
				for l := range dps.Len() {
					dp := dps.At(l)
					v := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						v = float64(dp.IntValue())
					}
					if math.IsNaN(v) || math.IsInf(v, 0) || (monotonic && v < 0) {
						t.Fatalf("%s %v: value %v", m.Name(), dp.Attributes().AsRaw(), v)
					}
					key := m.Name()
					if d, ok := dp.Attributes().Get("network.io.direction"); ok {
						key += "/" + d.Str()
					}
					if c, ok := dp.Attributes().Get("infiniband.counter"); ok {
						key += "/" + c.Str()
					}
					out[key] = v
				}
			}
		}
	}
	return out
}

// writeTree writes one HCA with one port whose files hold what the fuzzer chose.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	port := filepath.Join(root, "sys", "class", "infiniband", "mlx5_0", "ports", "1")
	for name, content := range files {
		p := filepath.Join(port, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzScrapeSysfs scrapes a port whose state, rate and counters hold what
// the fuzzer chose, twice. Every counter that reads as a number is reported
// exactly, or rejected with a partial-scrape error when the metric cannot
// hold it; no value is negative, NaN or infinite; utilization is not
// negative and the transmit-wait ratio stays in [0, 1].
func FuzzScrapeSysfs(f *testing.F) {
	f.Add("4: ACTIVE", "5: LinkUp", "200 Gb/sec (4X HDR)", "123456", "654321", "1000", "77", "9999999")
	f.Add("1: DOWN", "3: Disabled", "10 Gb/sec (4X SDR)", "4294967295", "0", "4294967295", "0", "0")
	f.Add("9: WHAT", "", "fast", "N/A", "-1", "1e3", " 5\n", "")
	f.Add("4: ACTIVE", "5: LinkUp", "0.000000001 Gb/sec", "2305843009213693952", "9223372036854775808", "1", "18446744073709551615", "3")
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, state, phys, rate, xmit, rcv, wait, hw, xmit2 string) {
		files := map[string]string{
			"state": state, "phys_state": phys, "rate": rate, "link_layer": "InfiniBand",
			"counters/port_xmit_data": xmit, "counters/port_rcv_data": rcv, "counters/port_xmit_wait": wait,
			"hw_counters/np_cnp_sent": hw,
		}
		writeTree(t, root, files)
		cfg := createDefaultConfig().(*Config)
		cfg.RootPath = root
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		if err := s.start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		for round, x := range []string{xmit, xmit2} {
			files["counters/port_xmit_data"] = x
			writeTree(t, root, map[string]string{"counters/port_xmit_data": x})
			md, err := s.scrape(context.Background())
			if err != nil && !scrapererror.IsPartialScrapeError(err) {
				t.Fatalf("round %d: %v", round, err)
			}
			got := points(t, md)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			for _, c := range []struct {
				file, key string
				times     uint64
				bits      uint
			}{
				{"counters/port_xmit_data", "infiniband.port.io/transmit", 4, 32},
				{"counters/port_rcv_data", "infiniband.port.io/receive", 4, 32},
				{"counters/port_xmit_wait", "infiniband.port.xmit_wait", 1, 32},
				{"hw_counters/np_cnp_sent", "infiniband.port.hw_counter/np_cnp_sent", 1, 64},
			} {
				v, perr := strconv.ParseUint(strings.TrimSpace(files[c.file]), 10, 64)
				dp, reported := got[c.key]
				switch {
				case perr != nil:
					if reported || !strings.Contains(msg, c.file) {
						t.Fatalf("round %d: %s = %q: reported %v (%v), error %q", round, c.file, files[c.file], reported, dp, msg)
					}
				case c.bits < 64 && v == 1<<c.bits-1: // saturated: withheld
					if reported {
						t.Fatalf("round %d: saturated %s reported as %v", round, c.file, dp)
					}
				case v > math.MaxInt64/c.times:
					if reported || !strings.Contains(msg, c.file) {
						t.Fatalf("round %d: %s = %d does not fit the metric: reported %v (%v), error %q", round, c.file, v, reported, dp, msg)
					}
				default:
					if !reported || dp != float64(v*c.times) {
						t.Fatalf("round %d: %s = %d: reported %v as %v, want %d", round, c.file, v, reported, dp, v*c.times)
					}
				}
			}
			for key, v := range got {
				switch {
				case strings.HasPrefix(key, "infiniband.port.utilization") && v < 0,
					key == "infiniband.port.xmit_wait.ratio" && (v < 0 || v > 1),
					key == "infiniband.port.rate" && v < 0:
					t.Fatalf("round %d: %s = %v", round, key, v)
				}
			}
		}
	})
}
