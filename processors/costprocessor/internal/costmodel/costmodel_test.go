package costmodel

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// OpenCost's worked case: a $35 node whose base prices add up to CPU 30,
// RAM 30, GPU 10 splits into 15, 15 and 5.
func TestSplitNodeOpenCostWorkedCase(t *testing.T) {
	cpu, ram, gpu := SplitNode(35, 1, 1, 1, BasePrices{CPUPerVCPUHour: 30, RAMPerGiBHour: 30, GPUPerGPUHour: 10})
	near(t, "cpu", cpu, 15)
	near(t, "ram", ram, 15)
	near(t, "gpu", gpu, 5)
}

func TestSplitNodeOpenCostDefaults(t *testing.T) {
	// 8 GPUs, 192 vCPU, 2048 GiB at $98.32/h with OpenCost's default base prices.
	b := OpenCostDefaultBasePrices
	total := 192*b.CPUPerVCPUHour + 2048*b.RAMPerGiBHour + 8*b.GPUPerGPUHour
	_, _, gpu := SplitNode(98.32, 192, 2048, 8, b)
	near(t, "gpu", gpu, 98.32*8*0.95/total)
	_, _, all := SplitNode(10, 0, 0, 0, b)
	near(t, "no resources described", all, 10)
}

func TestAmortisation(t *testing.T) {
	// $30,000 over 4 years.
	near(t, "per hour", AmortisedPerHour(30000, 4), 30000/(4*8766.0))
	// 1 kWh at $0.12 and PUE 1.5 is $0.18.
	near(t, "per kWh", USDPerJoule(0.12, 1.5)*3.6e6, 0.18)
}

func TestSplitExact(t *testing.T) {
	got := Split(100, []float64{1, 1, 1}, 0)
	if got[0]+got[1]+got[2] != 100 || got[0] != 34 || got[1] != 33 {
		t.Fatalf("Split(100, thirds) = %v", got)
	}
	got = Split(7, []float64{0, 0}, 1)
	if got[0] != 0 || got[1] != 7 {
		t.Fatalf("fallback: %v", got)
	}
	got = Split(10, []float64{math.NaN(), -1, 2}, 0)
	if got[2] != 10 {
		t.Fatalf("NaN and negative weights: %v", got)
	}
}

func day(d int, h int) time.Time { return time.Date(2025, 1, d, h, 0, 0, 0, time.UTC) }

func TestPriceChangeInsideInterval(t *testing.T) {
	m := map[string]string{"hw.model": "H100"}
	pb := NewPriceBook([]Rule{
		{Name: "old", Match: m, Until: day(1, 12), PerGPUHour: map[RateKind]float64{OnDemand: 2}},
		{Name: "new", Match: m, From: day(1, 12), PerGPUHour: map[RateKind]float64{OnDemand: 3}},
	})
	c := pb.Candidates(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	q := Price(c, OnDemand, day(1, 10), day(1, 14))
	// 2 h at $2 and 2 h at $3.
	if q.Cost != FromUSD(10) {
		t.Fatalf("cost = %v, want $10", q.Cost.USD())
	}
	if q.End == nil || q.End.Name != "new" || q.EndRate != 3 || q.Unpriced != 0 {
		t.Fatalf("end = %+v", q)
	}
	// Before the first rule's window opens nothing prices the GPU.
	pb2 := NewPriceBook([]Rule{{Name: "late", From: day(1, 12), PerGPUHour: map[RateKind]float64{OnDemand: 1}}})
	q = Price(pb2.Candidates(func(string) (string, bool) { return "", false }), OnDemand, day(1, 11), day(1, 13))
	if q.Unpriced != time.Hour || q.Priced != time.Hour || q.Cost != FromUSD(1) {
		t.Fatalf("half priced: %+v", q)
	}
}

func TestPrecedence(t *testing.T) {
	attrs := map[string]string{"hw.model": "H100", "host.type": "p5.48xlarge"}
	get := func(k string) (string, bool) { v, ok := attrs[k]; return v, ok }
	pb := NewPriceBook([]Rule{
		{Name: "model", Match: map[string]string{"hw.model": "H100"}, PerGPUHour: map[RateKind]float64{OnDemand: 4, Spot: 2}},
		{Name: "instance", Match: map[string]string{"host.type": "p5.48xlarge", "hw.model": "H100"}, PerGPUHour: map[RateKind]float64{OnDemand: 5}},
		{Name: "urgent", Priority: 10, Match: map[string]string{"host.type": "p5.48xlarge"}, PerGPUHour: map[RateKind]float64{Reserved: 1}},
		{Name: "other", Match: map[string]string{"hw.model": "A100"}, PerGPUHour: map[RateKind]float64{OnDemand: 1}},
	})
	c := pb.Candidates(get)
	for kind, want := range map[RateKind]string{OnDemand: "instance", Spot: "model", Reserved: "urgent"} {
		q := Price(c, kind, day(1, 0), day(1, 1))
		if q.End == nil || q.End.Name != want {
			t.Errorf("%s priced by %v, want %s", kind, q.End, want)
		}
	}
	if q := Price(c, CapacityBlock, day(1, 0), day(1, 1)); q.End != nil || q.Cost != 0 || q.Unpriced != time.Hour {
		t.Errorf("capacity_block has no rate and must stay unpriced: %+v", q)
	}
	onprem := NewPriceBook([]Rule{{Name: "dc", PerGPUHour: map[RateKind]float64{OnPrem: 0.5}}})
	if q := Price(onprem.Candidates(get), Spot, day(1, 0), day(1, 2)); q.EndKind != OnPrem || q.Cost != FromUSD(1) {
		t.Errorf("on-prem applies whatever kind is asked: %+v", q)
	}
}

func sum(lines []Line) (c, e Nanos) {
	for _, l := range lines {
		c += l.Cost
		e += l.Energy
	}
	return
}

func byKind(lines []Line) map[LineKind]Nanos {
	m := map[LineKind]Nanos{}
	for _, l := range lines {
		m[l.Kind] += l.Cost
	}
	return m
}

func TestAllocateMIG(t *testing.T) {
	// A100 with 3g (held, busy), 2g (held, idle) and 1g (free); 1 of 7
	// compute slices is not partitioned.
	units := []Unit{
		{Weight: 3.0 / 7, Util: 0.8, HasUtil: true, Holders: []Holder{{}}},
		{Weight: 2.0 / 7, Util: 0.01, HasUtil: true, Holders: []Holder{{}}},
		{Weight: 1.0 / 7},
	}
	lines := Allocate(7000, 700, units, 0.05)
	k := byKind(lines)
	if k[Allocated] != 3000 || k[IdleUnderused] != 2000 || k[IdleUnallocated] != 2000 {
		t.Fatalf("by kind %v, lines %+v", k, lines)
	}
	if c, e := sum(lines); c != 7000 || e != 700 {
		t.Fatalf("sum %d %d", c, e)
	}
}

func TestAllocateTimeSlicing(t *testing.T) {
	// Two pods share a GPU; measured use 0.6 and 0.1.
	two := []Holder{{Use: 0.6, HasUse: true}, {Use: 0.1, HasUse: true}}
	lines := Allocate(1100, 0, []Unit{{Weight: 1, Util: 0.7, HasUtil: true, Holders: two}}, 0.05)
	// max(0.5, 0.6) + max(0.5, 0.1) = 1.1, scaled to 6/11 and 5/11.
	if lines[0].Cost != 600 || lines[1].Cost != 500 || len(lines) != 2 {
		t.Fatalf("replicas = holders: %+v", lines)
	}
	// Advertised as 4 replicas: each pod requests 1/4; 0.6 + 0.25 is
	// charged and 0.15 is left unrequested.
	lines = Allocate(1000, 0, []Unit{{Weight: 1, Util: 0.7, HasUtil: true, Replicas: 4, Holders: two}}, 0.05)
	k := byKind(lines)
	if lines[0].Cost != 600 || lines[1].Cost != 250 || k[IdleUnallocated] != 150 {
		t.Fatalf("4 replicas: %+v", lines)
	}
	// No measurement: split by request.
	lines = Allocate(1000, 0, []Unit{{Weight: 1, Holders: []Holder{{}, {}}}}, 0.05)
	if lines[0].Cost != 500 || lines[1].Cost != 500 || lines[0].Kind != Allocated {
		t.Fatalf("unmeasured: %+v", lines)
	}
	// Measured use below the threshold and no GPU utilization: underused.
	lines = Allocate(1000, 0, []Unit{{Weight: 1, Holders: []Holder{{Use: 0.01, HasUse: true}}}}, 0.05)
	if lines[0].Kind != IdleUnderused || lines[0].Cost != 1000 {
		t.Fatalf("underused: %+v", lines)
	}
}

// Conservation over random inputs: per GPU and interval, workload + idle is
// the GPU's cost to the nano-dollar, every part is non-negative, and only
// held units produce lines with holders.
func TestConservationProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(20250101))
	for n := 0; n < 20000; n++ {
		cost := Nanos(rng.Int63n(1e13))
		energy := Nanos(rng.Int63n(1e10))
		units := make([]Unit, rng.Intn(8))
		for i := range units {
			u := &units[i]
			switch rng.Intn(4) {
			case 0:
				u.Weight = 1
			case 1:
				u.Weight = float64(1+rng.Intn(7)) / 7
			case 2:
				u.Weight = rng.Float64()
			default:
				u.Weight = 0
			}
			u.HasUtil = rng.Intn(2) == 0
			u.Util = rng.Float64()
			u.Replicas = rng.Intn(6)
			for h := rng.Intn(5); h > 0; h-- {
				u.Holders = append(u.Holders, Holder{Use: rng.Float64()*1.5 - 0.2, HasUse: rng.Intn(3) > 0})
			}
		}
		lines := Allocate(cost, energy, units, rng.Float64()*0.2)
		c, e := sum(lines)
		if c != cost || e != energy {
			t.Fatalf("case %d: lines add to %d/%d, want %d/%d; units %+v", n, c, e, cost, energy, units)
		}
		for _, l := range lines {
			if l.Cost < 0 || l.Energy < 0 {
				t.Fatalf("case %d: negative line %+v", n, l)
			}
			if l.Holder >= 0 && (l.Unit < 0 || l.Holder >= len(units[l.Unit].Holders)) {
				t.Fatalf("case %d: line names no holder %+v", n, l)
			}
			if (l.Holder < 0) != (l.Kind == IdleUnallocated) {
				t.Fatalf("case %d: kind and holder disagree %+v", n, l)
			}
		}
	}
}
