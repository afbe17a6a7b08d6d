package costprocessor

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
)

// FuzzPriceBook reads a cost processor config (its price book above all) as
// the collector does, then prices a GPU with the book over an interval of up
// to max_gap. A book that validates prices any interval with a cost that is
// not negative, splits the interval into priced and unpriced parts that add
// up to it, and bills an interval cut in two as the sum of its halves (to
// the nano-dollar each cut may round).
func FuzzPriceBook(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	var sections map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &sections); err != nil {
		f.Fatal(err)
	}
	for _, node := range sections {
		doc, err := yaml.Marshal(&node)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc, "NVIDIA H100 80GB HBM3", "on_demand", int64(0), uint32(300))
		f.Add(doc, "NVIDIA A100-SXM4-80GB", "spot", int64(86400*365), uint32(60))
	}
	f.Add([]byte("prices:\n  - model: H100\n    rates: {on_demand: .inf}\n"), "H100", "on_demand", int64(0), uint32(60))
	f.Add([]byte("prices:\n  - model: H100\n    rates: {on_demand: 1e300}\n"), "H100", "on-demand", int64(0), uint32(60))
	f.Add([]byte("prices:\n  - on_prem: {purchase_price: 1e308, lifetime_years: 1e-300}\n    electricity_per_kwh: .inf\n"), "H100", "reserved", int64(0), uint32(60))
	f.Add([]byte("max_gap: 1h\nprices:\n  - {model: H100, until: 2025-01-01T00:30:00Z, rates: {spot: 2}}\n  - {model: H100, from: 2025-01-01T00:30:00Z, rates: {spot: 3}}\n"), "H100", "spot", int64(0), uint32(3600))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, doc []byte, model, kindName string, offset int64, length uint32) {
		ret, err := confmap.NewRetrievedFromYAML(doc)
		if err != nil {
			return
		}
		conf, err := ret.AsConf()
		if err != nil {
			return
		}
		cfg := createDefaultConfig().(*Config)
		if err := conf.Unmarshal(cfg); err != nil {
			return
		}
		if err := confmap.Validate(cfg); err != nil {
			return
		}
		rules, err := cfg.rules()
		if err != nil {
			t.Fatalf("Validate accepted a book that rules() refuses: %v", err)
		}
		for _, r := range rules {
			for k, v := range r.PerGPUHour {
				if !(v >= 0) || math.IsInf(v, 0) {
					t.Fatalf("rule %s: %s rate %v per GPU-hour", r.Name, k, v)
				}
			}
			if !(r.USDPerJoule >= 0) || math.IsInf(r.USDPerJoule, 0) {
				t.Fatalf("rule %s: %v USD/J", r.Name, r.USDPerJoule)
			}
		}
		kind, ok := parseRateKind(kindName)
		if !ok {
			kind = costmodel.OnDemand
		}
		book := costmodel.NewPriceBook(rules)
		attrs := map[string]string{"hw.model": model, cfg.InstanceTypeAttribute: "p5.48xlarge", "k8s.cluster.name": "onprem-1"}
		cands := book.Candidates(func(k string) (string, bool) { v, ok := attrs[k]; return v, ok })
		// Within ±100 years of 2025, for at most max_gap, as the processor bills.
		from := base.Add(time.Duration(offset%(100*365*86400)) * time.Second)
		d := min(time.Duration(length)*time.Second, cfg.MaxGap)
		to := from.Add(d)
		q := costmodel.Price(cands, kind, from, to)
		if q.Cost < 0 || q.Priced < 0 || q.Unpriced < 0 || q.Priced+q.Unpriced != d {
			t.Fatalf("quote %+v for %v", q, d)
		}
		if !(q.USDPerJoule >= 0) || math.IsInf(q.USDPerJoule, 0) {
			t.Fatalf("%v USD/J", q.USDPerJoule)
		}
		if q.End == nil && q.EndRate != 0 || !(q.EndRate >= 0) {
			t.Fatalf("end %+v at %v", q.End, q.EndRate)
		}
		mid := from.Add(d / 2)
		a, b := costmodel.Price(cands, kind, from, mid), costmodel.Price(cands, kind, mid, to)
		// Additive, until FromUSD saturates (beyond ~9.2e9 USD an interval).
		if diff := math.Abs(float64(a.Cost) + float64(b.Cost) - float64(q.Cost)); q.Cost < math.MaxInt64/4 && diff > 2+1e-12*float64(q.Cost) {
			t.Fatalf("%v + %v billed %d + %d = %d nano-USD, whole %d", from, to, a.Cost, b.Cost, a.Cost+b.Cost, q.Cost)
		}
		if a.Priced+b.Priced != q.Priced {
			t.Fatalf("priced %v + %v, whole %v", a.Priced, b.Priced, q.Priced)
		}
	})
}
