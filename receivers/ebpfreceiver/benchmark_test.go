//go:build linux

package ebpfreceiver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
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
// The "empty" case is the floor: a tp_btf program that only returns, whose
// cost per event is what the kernel's dispatch and the statistics' own
// clock reads take on this machine.
func BenchmarkSchedOverhead(b *testing.B) {
	for _, m := range []string{methodTPBTF, methodRawTP} {
		b.Run(m, func(b *testing.B) {
			needRoot(b)
			cfg := createDefaultConfig().(*Config)
			cfg.AttachMethods = []string{m}
			benchOverhead(b, func() (func() []progStats, func(), error) {
				p, err := loadProbe(cfg)
				if err != nil {
					return nil, nil, err
				}
				return func() []progStats { return p.programStats() }, func() { p.Close() }, nil
			})
		})
	}
	b.Run("empty", func(b *testing.B) {
		needRoot(b)
		benchOverhead(b, attachEmpty)
	})
}

// attachEmpty attaches a tp_btf sched_switch program that only returns, with
// run-time statistics on.
func attachEmpty() (func() []progStats, func(), error) {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sched_switch", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		stats.Close()
		return nil, nil, err
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		prog.Close()
		stats.Close()
		return nil, nil, err
	}
	return func() []progStats {
			st, err := prog.Stats()
			if err != nil {
				return nil
			}
			return []progStats{{name: "sched_switch_empty", runs: st.RunCount, runTimeNs: uint64(st.Runtime)}}
		}, func() {
			l.Close()
			prog.Close()
			stats.Close()
		}, nil
}

// addStats sums the run counts and times of the sched_switch and the
// sched_wakeup programs.
func addStats(sw, wake *progStats, stats []progStats) {
	for _, st := range stats {
		sum := sw
		switch {
		case strings.HasPrefix(st.name, "sched_switch_"):
		case strings.HasPrefix(st.name, "sched_wakeup_") && !strings.HasPrefix(st.name, "sched_wakeup_new"):
			sum = wake
		default:
			continue
		}
		sum.runs += st.runs
		sum.runTimeNs += st.runTimeNs
	}
}

func benchOverhead(b *testing.B, attach func() (stats func() []progStats, detach func(), err error)) {
	const hops = 20000
	var base, with float64
	var sw, wake, all progStats
	var window time.Duration
	for b.Loop() {
		base += pingPong(b, hops)
		stats, detach, err := attach()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		with += pingPong(b, hops)
		window += time.Since(start)
		st := stats()
		addStats(&sw, &wake, st)
		for _, p := range st {
			all.runs += p.runs
			all.runTimeNs += p.runTimeNs
		}
		detach()
	}
	// The programs' share of one core while the ping-pong ran, at the
	// switch rate it drove (what the 1%-at-100k-switches goal is about).
	b.ReportMetric(float64(sw.runs)/window.Seconds(), "switches/s")
	b.ReportMetric(100*float64(all.runTimeNs)/float64(window.Nanoseconds()), "bpf-core-%")
	b.ReportMetric(base/float64(b.N), "base-ns/hop")
	b.ReportMetric(with/float64(b.N), "ebpf-ns/hop")
	b.ReportMetric(with/base, "ratio")
	if sw.runs > 0 {
		b.ReportMetric(float64(sw.runTimeNs)/float64(sw.runs), "bpf-ns/switch")
	}
	if wake.runs > 0 {
		b.ReportMetric(float64(wake.runTimeNs)/float64(wake.runs), "bpf-ns/wakeup")
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

// BenchmarkCollectionCost is the receiver's cost under the real-load
// workload (the busy child of TestRealLoad, re-run in its cgroup for as long
// as the benchmark lasts, and O_DIRECT IO in another): the process's CPU time
// (getrusage, user + system) per scrape, 10 ms apart, and each program's
// kernel-side run time per event from the BPF statistics. CPU time is the
// scraping thread's (RUSAGE_THREAD, the goroutine locked to it): the load
// goroutines' fork/exec runs in this process too and is not the receiver's.
func BenchmarkCollectionCost(b *testing.B) {
	needRoot(b)
	busyDir, _ := mkCgroup(b, "acceltel-bench-busy")
	ioDir, _ := mkCgroup(b, "acceltel-bench-io")
	s := newScraper(createDefaultConfig().(*Config), receivertest.NewNopSettings(metadata.Type), loadProbe)
	if err := s.start(context.Background(), &statusHost{}); err != nil || s.probe == nil {
		b.Fatal("probe did not load", err)
	}
	defer s.shutdown(context.Background())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	load := func(dir string, env string) {
		defer wg.Done()
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			b.Error(err)
			return
		}
		defer unix.Close(fd)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), env)
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Error(err, string(out))
				return
			}
		}
	}
	wg.Add(2)
	go load(busyDir, "ACCELTEL_EBPF_BUSY=1")
	go load(ioDir, "ACCELTEL_EBPF_DIO="+filepath.Join(b.TempDir(), "direct"))
	time.Sleep(200 * time.Millisecond)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu time.Duration
	var before, after unix.Rusage
	resources := 0
	for b.Loop() {
		time.Sleep(10 * time.Millisecond)
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &before)
		md, err := s.scrape(context.Background())
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &after)
		if err != nil {
			b.Fatal(err)
		}
		cpu += time.Duration(unix.TimevalToNsec(after.Utime) - unix.TimevalToNsec(before.Utime) +
			unix.TimevalToNsec(after.Stime) - unix.TimevalToNsec(before.Stime))
		resources = md.ResourceMetrics().Len()
	}
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/scrape")
	b.ReportMetric(float64(resources-1), "cgroups")
	for _, st := range s.probe.programStats() {
		if st.runs > 0 {
			b.ReportMetric(float64(st.runTimeNs)/float64(st.runs), st.name+"-ns/run")
			b.Logf("%s (%s): %d runs, %.0f ns/run", st.name, st.method, st.runs, float64(st.runTimeNs)/float64(st.runs))
		}
	}
}
