//go:build linux

package ebpfreceiver

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// runBursts is the child of TestOnCPUPending: a hundred 100 µs bursts
// 500 µs apart, then one 30 ms slice, after which it says so and blocks on
// stdin until the test has read the counters. The slice runs under
// SCHED_FIFO, so that no other task preempts it: it is reported only if a
// long slice is added to the cgroup when it ends.
func runBursts() {
	runtime.LockOSThread()
	spin := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	for range 100 {
		spin(100 * time.Microsecond)
		time.Sleep(500 * time.Microsecond)
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		os.Stdout.WriteString("sched_setattr: " + err.Error() + "\n")
		os.Exit(1)
	}
	spin(30 * time.Millisecond)
	os.Stdout.WriteString("ready\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// schedstatNs sums the on-CPU time the kernel keeps for every thread of pid
// (the first field of /proc/PID/task/TID/schedstat, in ns).
func schedstatNs(t *testing.T, pid int) (ns uint64, threads int) {
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
	require.NoError(t, err)
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		v, err := strconv.ParseUint(strings.Fields(string(b))[0], 10, 64)
		require.NoError(t, err)
		ns += v
		threads++
	}
	return ns, threads
}

// TestOnCPUPending checks the bound on on-CPU time not yet reported: the
// programs add a task's time to its cgroup when it is next switched in, or
// at once past 1 ms (ONCPU_FLUSH_NS) or at exit. With the child alive and
// asleep, the cgroup's on-CPU time is the kernel's own figure for its
// threads less at most 1 ms per thread, and never more.
func TestOnCPUPending(t *testing.T) {
	needRoot(t)
	dir, id := mkCgroup(t, "acceltel-bursts")
	cfg := createDefaultConfig().(*Config)
	cfg.BlockIO.Enabled = false
	s := startScraper(t, cfg)

	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ACCELTEL_EBPF_BURSTS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	time.Sleep(20 * time.Millisecond) // every thread parked

	kernel, threads := schedstatNs(t, cmd.Process.Pid)
	on := scrapeCgroup(t, s, id, metricOnCPU)
	got := uint64(on.Sum().DataPoints().At(0).DoubleValue() * 1e9)
	t.Logf("on-CPU %.2f ms, kernel %.2f ms, %d threads", float64(got)/1e6, float64(kernel)/1e6, threads)
	assert.Greater(t, kernel, uint64(40e6), "the child ran less than it should")
	// Rounding of the metric (float seconds) and the thread that printed
	// "ready" switching out after the schedstat read: 0.1 ms of slack.
	assert.LessOrEqual(t, got, kernel+100_000)
	assert.GreaterOrEqual(t, got+uint64(threads)*1_000_000, kernel)
}
