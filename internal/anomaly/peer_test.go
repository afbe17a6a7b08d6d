package anomaly

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func gpuNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("GPU-%02d", i)
	}
	return s
}

// A fleet of 64 GPUs at 1410 MHz with 1% noise; from interval 100 one GPU
// throttles by 15%. It must be flagged within 3 intervals, nobody else ever.
func TestPeerThrottlingGPUFlaggedWithinK(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	g := NewPeerGroup(PeerConfig{Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4, Direction: Low})
	names := gpuNames(64)
	flaggedAt := -1
	for it := 0; it < 200; it++ {
		for i, n := range names {
			v := 1410 * (1 + 0.01*rng.NormFloat64())
			if i == 17 && it >= 100 {
				v *= 0.85
			}
			g.Observe(n, v)
		}
		for _, v := range g.Close() {
			if v.Flagged && v.Member != names[17] {
				t.Fatalf("interval %d: healthy %s flagged (z=%.1f)", it, v.Member, v.Z)
			}
			if v.Flagged && flaggedAt < 0 {
				flaggedAt = it
			}
		}
	}
	if flaggedAt < 100 || flaggedAt > 102 {
		t.Fatalf("throttling GPU flagged at interval %d, want 100..102", flaggedAt)
	}
}

func TestPeerOneNoisyIntervalFlagsNothing(t *testing.T) {
	g := NewPeerGroup(DefaultPeerConfig())
	names := gpuNames(8)
	for it := 0; it < 20; it++ {
		for i, n := range names {
			v := 100.0 + float64(i%3)
			if i == 3 && it == 10 {
				v = 300 // one bad interval
			}
			g.Observe(n, v)
		}
		for _, v := range g.Close() {
			if v.Off != (v.Member == names[3] && it == 10) {
				t.Fatalf("interval %d %s: off=%v", it, v.Member, v.Off)
			}
			if v.Flagged {
				t.Fatalf("interval %d: %s flagged after a single noisy interval", it, v.Member)
			}
		}
	}
}

func TestPeerHealthyFleetNoFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 intervals")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	g := NewPeerGroup(DefaultPeerConfig())
	names := gpuNames(64)
	for it := 0; it < 10000; it++ {
		for _, n := range names {
			g.Observe(n, 250*(1+0.02*rng.NormFloat64()))
		}
		for _, v := range g.Close() {
			if v.Flagged {
				t.Fatalf("interval %d: healthy %s flagged (z=%.1f)", it, v.Member, v.Z)
			}
		}
	}
}

func TestPeerForgetsDepartedMembers(t *testing.T) {
	c := DefaultPeerConfig()
	g := NewPeerGroup(c)
	for _, n := range gpuNames(8) {
		g.Observe(n, 1)
	}
	g.Close()
	for it := 0; it < 4*c.N+1; it++ {
		for _, n := range gpuNames(4) {
			g.Observe(n, 1)
		}
		g.Close()
	}
	if g.Len() != 4 {
		t.Fatalf("tracking %d members, want 4 after the others left", g.Len())
	}
	if err := (PeerConfig{K: 6, N: 5}).Validate(); err == nil {
		t.Fatal("k > n accepted")
	}
}

func BenchmarkPeerInterval64(b *testing.B) {
	g := NewPeerGroup(DefaultPeerConfig())
	names := gpuNames(64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for j, n := range names {
			g.Observe(n, float64(100+j%5))
		}
		g.Close()
	}
}
