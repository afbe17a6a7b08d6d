//go:build linux

package ebpfreceiver

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
)

// TestRawTPForgetsExitedTasks: raw_tp keeps per-task state by pid, so a task
// later given a dead task's pid would inherit its timestamps unless the
// entry goes when the task does. A live, scheduled task has one; once it
// has exited, it and twenty short-lived ones have none.
func TestRawTPForgetsExitedTasks(t *testing.T) {
	needRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.AttachMethods = []string{methodRawTP}
	cfg.BlockIO.Enabled = false
	s := startScraper(t, cfg)
	m := s.probe.maps["task_by_pid"]
	require.NotNil(t, m)
	has := func(pid int) bool {
		v := make([]byte, m.ValueSize())
		err := m.Lookup(uint32(pid), v)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return false
		}
		require.NoError(t, err)
		return true
	}

	sleeper := exec.Command("sleep", "10")
	require.NoError(t, sleeper.Start())
	pids := []int{sleeper.Process.Pid}
	require.Eventually(t, func() bool { return has(sleeper.Process.Pid) }, 5*time.Second, 10*time.Millisecond,
		"a running task has no entry: the test would check nothing")
	require.NoError(t, sleeper.Process.Kill())
	_ = sleeper.Wait() // killed: the error is the signal

	for range 20 {
		c := exec.Command("true")
		require.NoError(t, c.Run())
		pids = append(pids, c.Process.Pid)
	}
	for _, pid := range pids {
		require.False(t, has(pid), "pid %d exited but keeps its entry", pid)
	}
}
