// Package testbed runs the built distribution against real peers (a
// Prometheus server, OTLP clients) and checks what comes out the other side.
package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the repository root, found from this file's location.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if ok && filepath.IsAbs(file) {
		return filepath.Dir(filepath.Dir(file))
	}
	// Built with -trimpath: the test runs in testbed/.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// FreePort returns a loopback address with a port nobody listens on now,
// below the kernel's ephemeral range. A port from that range can be taken
// by any outgoing connection between this check and the collector's listen,
// and a client dialling it before the listener is up (the agent's own
// internal hop does, at start) can connect to itself: TCP's simultaneous
// open, after which the listener cannot bind.
func FreePort(t testing.TB) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	for range 1000 {
		port := 10000 + rand.IntN(max(low-10000, 1))
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if !reservePort(port) {
			continue
		}
		if l, err := net.Listen("tcp", addr); err == nil {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			return addr
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// Ports handed out stay reserved for the life of the test process: a
// port is free when FreePort checks it, but its user may bind it seconds
// later (a collector starting) or again after a restart, and meanwhile
// another test of this process, or of another package's test process that
// go test ./... runs at the same time, must not be given it. Within the
// process a set says so; across processes, a lock on a file per port that
// the process holds until it exits (so a crashed run leaves no stale
// reservation).
var (
	reservedMu sync.Mutex
	reserved   = map[int]*os.File{}
)

func reservePort(port int) bool {
	reservedMu.Lock()
	defer reservedMu.Unlock()
	if _, ok := reserved[port]; ok {
		return false
	}
	dir := filepath.Join(os.TempDir(), "acceltel-testbed-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no cross-process reservation, the in-process one still holds
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		reserved[port] = nil
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return false // another live test process has it
	}
	reserved[port] = f
	return true
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Process is a child process whose output is kept for the test log.
type Process struct {
	Name   string
	cmd    *exec.Cmd
	output syncBuffer
	done   chan struct{}
	err    error
}

// Start starts a process and stops it (SIGTERM, then SIGKILL) when the test ends.
func Start(t testing.TB, name string, env []string, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.output
	p.cmd.Stderr = &p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output.String())
		}
	})
	return p
}

// Output is what the process wrote so far.
func (p *Process) Output() string { return p.output.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace for a clean exit; a process that
// does not exit in time is killed and that is an error.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.exitErr()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not exit within %s of SIGTERM", grace)
	}
}

func (p *Process) exitErr() error {
	var exit *exec.ExitError
	if errors.As(p.err, &exit) && !exit.Success() {
		return fmt.Errorf("exited with %w", exit)
	}
	return p.err
}

// WaitHTTP polls url until it answers 200 or the deadline passes.
func WaitHTTP(ctx context.Context, p *Process, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before %s answered: %w", p.Name, url, p.exitErr())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s: %w", p.Name, url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Eventually polls check until it returns nil or the deadline passes, and
// returns check's last error.
func Eventually(ctx context.Context, interval time.Duration, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}
