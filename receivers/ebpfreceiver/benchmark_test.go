//go:build linux

package ebpfreceiver

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

// pingPong bounces a token n times between two OS threads pinned to CPU 0, so
// that every hop is a wakeup and a context switch; it returns ns per hop.
func pingPong(b *testing.B, n int) float64 {
	var set unix.CPUSet
	set.Set(0)
	ping, pong := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_ = unix.SchedSetaffinity(0, &set)
		for range ping {
			pong <- struct{}{}
		}
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	_ = unix.SchedGetaffinity(0, &old)
	_ = unix.SchedSetaffinity(0, &set)
	defer unix.SchedSetaffinity(0, &old)
	start := time.Now()
	for range n {
		ping <- struct{}{}
		<-pong
	}
	el := time.Since(start)
	close(ping)
	<-done
	return float64(el.Nanoseconds()) / float64(2*n)
}

// BenchmarkSchedOverhead reports the context-switch cost without and with the
// programs attached, interleaved in the same run, and their ratio; plus the
// kernel-side cost per sched_switch event from BPF run-time statistics.
func BenchmarkSchedOverhead(b *testing.B) {
	for _, m := range []string{methodTPBTF, methodRawTP} {
		b.Run(m, func(b *testing.B) {
			needRoot(b)
			cfg := createDefaultConfig().(*Config)
			cfg.AttachMethods = []string{m}
			benchOverhead(b, cfg)
		})
	}
}

func benchOverhead(b *testing.B, cfg *Config) {
	const hops = 20000
	var base, with float64
	var runs, runNs uint64
	for b.Loop() {
		base += pingPong(b, hops)
		p, err := loadProbe(cfg)
		if err != nil {
			b.Fatal(err)
		}
		with += pingPong(b, hops)
		for _, st := range p.programStats() {
			if st.name == "sched_switch_btf" || st.name == "sched_switch_raw" {
				runs += st.runs
				runNs += st.runTimeNs
			}
		}
		p.Close()
	}
	b.ReportMetric(base/float64(b.N), "base-ns/hop")
	b.ReportMetric(with/float64(b.N), "ebpf-ns/hop")
	b.ReportMetric(with/base, "ratio")
	if runs > 0 {
		b.ReportMetric(float64(runNs)/float64(runs), "bpf-ns/switch")
	}
}

// BenchmarkScrape is one collection with the programs attached and the
// histograms of every cgroup that ran since.
func BenchmarkScrape(b *testing.B) {
	needRoot(b)
	s := newScraper(createDefaultConfig().(*Config), receivertest.NewNopSettings(metadata.Type), loadProbe)
	if err := s.start(context.Background(), &statusHost{}); err != nil || s.probe == nil {
		b.Fatal("probe did not load", err)
	}
	defer s.shutdown(context.Background())
	time.Sleep(200 * time.Millisecond)
	md, _ := s.scrape(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(md.ResourceMetrics().Len()-1), "cgroups")
}
