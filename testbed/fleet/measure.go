package fleet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sys/unix"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which Linux fixes at 100 in its ABI whatever the kernel's tick rate.
const userHZ = 100

// ProcStat is what /proc says about a process at one moment.
type ProcStat struct {
	At  time.Time
	CPU float64 // utime + stime, seconds
	RSS int64   // VmRSS, bytes
	HWM int64   // VmHWM (peak RSS), bytes
}

// ReadProc reads a process's CPU time and memory from /proc.
func ReadProc(pid int) (ProcStat, error) {
	st := ProcStat{At: time.Now()}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14 and
	// 15, so the 12th and 13th after it.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return st, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, raw)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	st.CPU = float64(utime+stime) / userHZ
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer func() { _ = status.Close() }()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			st.RSS = kb << 10
		} else {
			st.HWM = kb << 10
		}
	}
	return st, sc.Err()
}

// Pin restricts every thread of a process to one CPU. Threads started
// later inherit the mask from the thread that starts them; pinning twice
// catches one started while the first pass ran.
func Pin(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	for range 2 {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pin thread %d of %d to CPU %d: %w", tid, pid, cpu, err)
			}
		}
	}
	return nil
}

// Lag is the consumer group's lag on topic in records: the topic's end
// offsets less the group's committed offsets, summed over partitions (a
// partition without a commit counts from its start).
func Lag(ctx context.Context, adm *kadm.Client, topic, group string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		// No member has joined or committed yet: everything is lag.
		committed, err = kadm.OffsetResponses{}, nil
	}
	if err != nil {
		return 0, err
	}
	if err := committed.Error(); err != nil {
		return 0, err
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			at = s.Offset
		}
		if c, ok := committed.Lookup(topic, o.Partition); ok && c.At >= 0 {
			at = c.At
		}
		lag += max(o.Offset-at, 0)
	})
	return lag, nil
}

// Telemetry is a collector's own metrics, read from its Prometheus endpoint.
type Telemetry map[string]*dto.MetricFamily

// ReadTelemetry scrapes a collector's telemetry endpoint (host:port).
func ReadTelemetry(ctx context.Context, addr string) (Telemetry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	return Telemetry(fams), err
}

// Sum adds the samples of a metric (a counter also under its _total name)
// whose labels include want.
func (t Telemetry) Sum(name string, want map[string]string) float64 {
	fam := t[name]
	if fam == nil {
		fam = t[name+"_total"]
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if match {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return sum
}

// slope is the least-squares slope of ys over xs, per unit of x.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// cpuModel is the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg is the 1-minute load average, to say how busy the machine was.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

// repoRoot is the module root: the nearest directory above the working
// directory (the package's, under go test) that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
