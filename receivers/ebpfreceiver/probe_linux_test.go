//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

// The busy child: re-executed test binary that runs more spinning threads
// than CPUs, so that they preempt each other and wait in the run queue. In
// init, since the generated TestMain is taken.
func init() {
	if path := os.Getenv("ACCELTEL_EBPF_DIO"); path != "" {
		if _, err := directIOFile(path, dioBlocks); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dir := os.Getenv("ACCELTEL_EBPF_DIO_NOISE"); dir != "" {
		runDIONoise(dir)
	}
	if os.Getenv("ACCELTEL_EBPF_BURSTS") == "1" {
		runBursts()
	}
	if v := os.Getenv("ACCELTEL_EBPF_MIGRATE"); v != "" {
		runMigrations(v)
	}
	if v := os.Getenv("ACCELTEL_EBPF_RECLAIM"); v != "" {
		runReclaim(v)
	}
	if os.Getenv("ACCELTEL_EBPF_BUSY") == "1" {
		n := 4 * runtime.NumCPU()
		runtime.GOMAXPROCS(n)
		stop := time.Now().Add(time.Second)
		done := make(chan struct{})
		for range n {
			go func() {
				runtime.LockOSThread()
				for time.Now().Before(stop) {
				}
				done <- struct{}{}
			}()
		}
		for range n {
			<-done
		}
		os.Exit(0)
	}
}

func needRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root (or CAP_BPF, CAP_PERFMON); CI runs these as root")
	}
}

// mkCgroup creates a cgroup v2 under the cgroup2 mount and returns its path and id.
func mkCgroup(t testing.TB, name string) (string, uint64) {
	root := findCgroup2("/proc/self/mounts")
	require.NotEmpty(t, root, "no cgroup2 mount in /proc/self/mounts")
	dir := filepath.Join(root, name+"-"+strconv.Itoa(os.Getpid()))
	require.NoError(t, os.Mkdir(dir, 0o755))
	t.Cleanup(func() { _ = os.Remove(dir) })
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(dir, &st))
	return dir, st.Ino
}

// childIn is the test binary as a child to start inside the cgroup (clone3
// CLONE_INTO_CGROUP) with env set.
func childIn(t *testing.T, dir string, env ...string) *exec.Cmd {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return cmd
}

// runChildIn runs the test binary as a child inside the cgroup (clone3
// CLONE_INTO_CGROUP) with env set, and returns its CPU time (user + system)
// and wall time.
func runChildIn(t *testing.T, dir string, env ...string) (cpu, wall time.Duration) {
	cmd := childIn(t, dir, env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall = time.Since(start)
	require.NoError(t, err, string(out))
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), wall
}

// runBusyIn runs the busy child inside the cgroup.
func runBusyIn(t *testing.T, dir string) (cpu, wall time.Duration) {
	return runChildIn(t, dir, "ACCELTEL_EBPF_BUSY=1")
}

func findCgroupResource(md pmetric.Metrics, id uint64) (pmetric.ResourceMetrics, bool) {
	for i := range md.ResourceMetrics().Len() {
		rm := md.ResourceMetrics().At(i)
		if v, ok := rm.Resource().Attributes().Get("acceltel.cgroup.id"); ok && v.Int() == int64(id) {
			return rm, true
		}
	}
	return pmetric.ResourceMetrics{}, false
}

// checkBuckets checks that the mean (from the independent sum) lies within the
// populated buckets, which tests the BPF bucketing against plain arithmetic.
func checkBuckets(t *testing.T, dp pmetric.ExponentialHistogramDataPoint) {
	base := 1.0
	for range 4 {
		base *= 1.189207115002721 // 2^(1/4)
	}
	require.Greater(t, dp.Count(), uint64(0))
	mean := dp.Sum() / float64(dp.Count())
	lo := pow2q(int(dp.Positive().Offset()))
	hi := pow2q(int(dp.Positive().Offset()) + dp.Positive().BucketCounts().Len())
	if dp.ZeroCount() > 0 {
		lo = 0
	}
	assert.GreaterOrEqual(t, mean, lo*0.999, "mean below the lowest bucket")
	assert.LessOrEqual(t, mean, hi*1.001, "mean above the highest bucket")
}

// pow2q is 2^(i/4), the lower bound of bucket i at scale 2.
func pow2q(i int) float64 {
	v := 1.0
	for ; i < 0; i += 4 {
		v /= 2
	}
	for ; i >= 4; i -= 4 {
		v *= 2
	}
	for ; i > 0; i-- {
		v *= 1.189207115002721
	}
	return v
}

const dioBlocks = 64

// dioBuffer is one 4 KiB block for O_DIRECT, which needs an aligned buffer:
// an anonymous mapping is page-aligned. Unmap it with unix.Munmap.
func dioBuffer() ([]byte, error) {
	return unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
}

// directIOFile writes and reads back n 4 KiB blocks with O_DIRECT|O_DSYNC, so
// that each one is a block request; it returns the bytes of each direction.
func directIOFile(path string, n int) (int, error) {
	const blk = 4096
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_DIRECT|unix.O_DSYNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf, err := dioBuffer()
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(buf)
	for i := range n {
		buf[0] = byte(i)
		if _, err := f.WriteAt(buf, int64(i*blk)); err != nil {
			return 0, err
		}
	}
	for i := range n {
		if _, err := f.ReadAt(buf, int64(i*blk)); err != nil {
			return 0, err
		}
	}
	return n * blk, nil
}

// cgroupBlockIO sums the requests and bytes of one operation on a cgroup's resource.
func cgroupBlockIO(rm pmetric.ResourceMetrics, op string) (reqs uint64, bytes int64) {
	if m, ok := metricByName(rm, metricBlockIO); ok {
		for j := range m.ExponentialHistogram().DataPoints().Len() {
			dp := m.ExponentialHistogram().DataPoints().At(j)
			if v, _ := dp.Attributes().Get(attrBlockIOOp); v.Str() == op {
				reqs += dp.Count()
			}
		}
	}
	if m, ok := metricByName(rm, metricBlockIOBytes); ok {
		for j := range m.Sum().DataPoints().Len() {
			dp := m.Sum().DataPoints().At(j)
			if v, _ := dp.Attributes().Get(attrBlockIOOp); v.Str() == op {
				bytes += dp.IntValue()
			}
		}
	}
	return reqs, bytes
}

// blockIOCounts sums, over disks, the requests and bytes of one operation.
func blockIOCounts(md pmetric.Metrics, op string) (reqs uint64, bytes int64) {
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		m := ms.At(i)
		switch m.Name() {
		case metricBlockIO:
			for j := range m.ExponentialHistogram().DataPoints().Len() {
				dp := m.ExponentialHistogram().DataPoints().At(j)
				if v, _ := dp.Attributes().Get("acceltel.blockio.operation"); v.Str() == op {
					reqs += dp.Count()
				}
			}
		case "acceltel.ebpf.blockio.io":
			for j := range m.Sum().DataPoints().Len() {
				dp := m.Sum().DataPoints().At(j)
				if v, _ := dp.Attributes().Get("acceltel.blockio.operation"); v.Str() == op {
					bytes += dp.IntValue()
				}
			}
		}
	}
	return reqs, bytes
}

func TestRealLoad(t *testing.T) {
	for _, methods := range [][]string{{methodTPBTF, methodRawTP}, {methodRawTP}} {
		t.Run(methods[0], func(t *testing.T) {
			needRoot(t)
			busyDir, busyID := mkCgroup(t, "acceltel-busy")
			_, idleID := mkCgroup(t, "acceltel-idle")
			ioDir, ioID := mkCgroup(t, "acceltel-io")

			cfg := createDefaultConfig().(*Config)
			cfg.AttachMethods = methods
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), loadProbe)
			host := &statusHost{}
			require.NoError(t, s.start(context.Background(), host))
			require.NotNil(t, s.probe, "probe did not load; see the log")
			var ids []ebpf.ProgramID
			for _, ap := range s.probe.progs {
				assert.Equal(t, methods[0], ap.method, ap.name)
				info, err := ap.prog.Info()
				require.NoError(t, err)
				id, _ := info.ID()
				ids = append(ids, id)
			}
			assert.Len(t, ids, len(hooks), "every hook attached here")

			busyCPU, busyWall := runBusyIn(t, busyDir)
			const blocks = dioBlocks
			ioBytes := blocks * 4096
			runChildIn(t, ioDir, "ACCELTEL_EBPF_DIO="+filepath.Join(t.TempDir(), "direct"))
			md, err := s.scrape(context.Background())
			require.NoError(t, err)

			_, found := findCgroupResource(md, idleID)
			assert.False(t, found, "the idle cgroup has histograms")
			rm, found := findCgroupResource(md, busyID)
			require.True(t, found, "no histograms for the busy cgroup")
			path, _ := rm.Resource().Attributes().Get("acceltel.cgroup.path")
			assert.Equal(t, "/"+filepath.Base(busyDir), path.Str())

			runq, ok := metricByName(rm, metricRunQueue)
			require.True(t, ok)
			dp := runq.ExponentialHistogram().DataPoints().At(0)
			// 4×CPUs threads spinning 1 s with ~ms time slices: hundreds of waits at least.
			assert.Greater(t, dp.Count(), uint64(100))
			mean := dp.Sum() / float64(dp.Count())
			assert.Greater(t, mean, 1e-6, "mean run-queue wait implausibly short")
			assert.Less(t, mean, 1.0, "mean run-queue wait implausibly long")
			checkBuckets(t, dp)
			t.Logf("busy cgroup: %d run-queue waits, mean %.1f µs", dp.Count(), mean*1e6)

			off, ok := metricByName(rm, metricOffCPU)
			require.True(t, ok)
			var preempted uint64
			for i := range off.ExponentialHistogram().DataPoints().Len() {
				p := off.ExponentialHistogram().DataPoints().At(i)
				checkBuckets(t, p)
				if r, _ := p.Attributes().Get(attrOffReason); r.Str() == "preempted" {
					preempted = p.Count()
				}
			}
			// Every preemption is an off-CPU interval and a run-queue wait.
			assert.Greater(t, preempted, uint64(50))
			assert.LessOrEqual(t, preempted, dp.Count())

			// On-CPU: the busy child's threads outnumber the CPUs, so it runs
			// on all of them for its whole life, CPUs × wall where nothing else
			// competes; this host is shared, so the reference is its CPU time
			// from the kernel's rusage (tolerance 10 %), and CPUs × wall + 5 %
			// the ceiling.
			on, ok := metricByName(rm, metricOnCPU)
			require.True(t, ok)
			onCPU := on.Sum().DataPoints().At(0).DoubleValue()
			assert.InEpsilon(t, busyCPU.Seconds(), onCPU, 0.10, "on-CPU vs the child's rusage")
			assert.LessOrEqual(t, onCPU, float64(runtime.NumCPU())*busyWall.Seconds()*1.05)
			t.Logf("busy cgroup: on-CPU %.3f s, rusage %.3f s, %d CPUs × wall %.3f s", onCPU, busyCPU.Seconds(), runtime.NumCPU(), busyWall.Seconds())

			// Block IO per issuing cgroup: the O_DIRECT child's requests all
			// count to its cgroup (synchronous, so none merge), none to busy,
			// less the completions the kernel did not show the programs
			// (counted; rare: 2 of 64 reads in one CI run).
			lost := lostBlockIO(t, s)
			iorm, found := findCgroupResource(md, ioID)
			require.True(t, found, "no series for the IO cgroup")
			for _, op := range []string{"read", "write"} {
				reqs, bytes := cgroupBlockIO(iorm, op)
				assert.GreaterOrEqual(t, reqs+lost, uint64(blocks), op)
				assert.GreaterOrEqual(t, bytes+int64(lost)*4096, int64(ioBytes), op)
				t.Logf("IO cgroup %s: %d requests, %d bytes; %d completions unseen", op, reqs, bytes, lost)
			}
			reqs, _ := cgroupBlockIO(rm, "read")
			assert.Zero(t, reqs, "the busy cgroup read from disk")

			// Other processes write too, so at least ours; bytes may be merged
			// into fewer, larger requests but not fewer bytes.
			var all uint64
			for _, op := range []string{"read", "write"} {
				reqs, bytes := blockIOCounts(md, op)
				assert.GreaterOrEqual(t, bytes+int64(lost)*4096, int64(ioBytes), op)
				assert.GreaterOrEqual(t, reqs+lost, uint64(blocks), op) // synchronous: none merge
				t.Logf("block IO %s: %d requests, %d bytes", op, reqs, bytes)
				all += reqs
			}
			assert.LessOrEqual(t, lost*10, all, "more than 10% of completions unseen")
			bio, ok := metricByName(md.ResourceMetrics().At(0), metricBlockIO)
			require.True(t, ok)
			for i := range bio.ExponentialHistogram().DataPoints().Len() {
				checkBuckets(t, bio.ExponentialHistogram().DataPoints().At(i))
			}

			require.NoError(t, s.shutdown(context.Background()))
			// The kernel frees a program after an RCU grace period once its
			// last link and fd are closed; a leaked link would keep it forever.
			for _, id := range ids {
				assert.Eventually(t, func() bool {
					p, err := ebpf.NewProgramFromID(id)
					if err == nil {
						p.Close()
					}
					return errors.Is(err, os.ErrNotExist)
				}, 5*time.Second, 10*time.Millisecond, "program %d still loaded after shutdown", id)
			}
		})
	}
}

// Drop every capability on one OS thread and load there: the kernel refuses,
// and the error names what is missing.
func TestRealMissingPrivilege(t *testing.T) {
	needRoot(t)
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its caps
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		p, err := loadProbe(createDefaultConfig().(*Config))
		if p != nil {
			p.Close()
		}
		errc <- err
	}()
	err := <-errc
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrPermission)
	assert.Contains(t, err.Error(), "CAP_BPF")
}
