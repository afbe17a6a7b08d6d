//go:build linux

package ebpfreceiver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

const migrateHops = 200

// runMigrations is the child of TestMigrations: its thread pins itself to
// CPU 0 and CPU 1 in turn, and each change of affinity moves it.
func runMigrations(n string) {
	hops, _ := strconv.Atoi(n)
	runtime.LockOSThread()
	for i := range hops {
		var set unix.CPUSet
		set.Set(i % 2)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// runReclaim is the child of TestReclaim: it joins the memory-limited cgroup
// whose cgroup.procs is given, then writes a file four times its limit
// through the page cache, syncing as it goes so that the cache it fills is
// clean and can be reclaimed, not only written back.
func runReclaim(arg string) {
	procs, path, _ := strings.Cut(arg, ",")
	if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 1<<20)
	for i := range 4 * reclaimLimitMiB {
		if _, err := f.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if i%16 == 15 {
			_ = f.Sync()
		}
	}
	_ = f.Close()
	os.Exit(0)
}

// startScraper starts a scraper with the programs loaded, shut down at the
// end of the test.
func startScraper(t *testing.T, cfg *Config) *ebpfScraper {
	t.Helper()
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), loadProbe)
	require.NoError(t, s.start(context.Background(), &statusHost{}))
	require.NotNil(t, s.probe, "probe did not load; see the log")
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s
}

// scrapeCgroup scrapes and returns the metric named name of the cgroup id.
func scrapeCgroup(t *testing.T, s *ebpfScraper, id uint64, name string) pmetric.Metric {
	t.Helper()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	rm, found := findCgroupResource(md, id)
	require.True(t, found, "no series for the cgroup")
	m, ok := metricByName(rm, name)
	require.True(t, ok, "no %s for the cgroup", name)
	return m
}

// TestMigrations moves a task between CPU 0 and CPU 1 migrateHops times
// and finds at least that many migrations, less one, for its cgroup: with
// the host's NUMA layout, and with CPU 1 put on a node of its own in the
// cpu_node map (as a second socket would be), where they are all remote.
func TestMigrations(t *testing.T) {
	for _, method := range []string{methodTPBTF, methodRawTP} {
		for _, split := range []bool{false, true} {
			name := method + "/host_nodes"
			if split {
				name = method + "/cpu1_on_node1"
			}
			t.Run(name, func(t *testing.T) { testMigrations(t, method, split) })
		}
	}
}

func testMigrations(t *testing.T, method string, split bool) {
	needRoot(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	nodes, err := cpuNodes("/sys/devices/system/node")
	require.NoError(t, err)
	if nodes[0] != nodes[1] {
		t.Skip("CPUs 0 and 1 are on different nodes here; the test assumes one")
	}
	dir, id := mkCgroup(t, "acceltel-migrate")
	cfg := createDefaultConfig().(*Config)
	cfg.BlockIO.Enabled = false
	cfg.AttachMethods = []string{method}
	s := startScraper(t, cfg)
	if split {
		require.NoError(t, s.probe.maps["cpu_node"].Put(uint32(1), nodes[0]+1))
	}
	runChildIn(t, dir, "ACCELTEL_EBPF_MIGRATE="+strconv.Itoa(migrateHops))
	m := scrapeCgroup(t, s, id, metricMigrations)
	got := map[string]int64{}
	for i := range m.Sum().DataPoints().Len() {
		dp := m.Sum().DataPoints().At(i)
		scope, _ := dp.Attributes().Get(attrMigrationNUMA)
		got[scope.Str()] = dp.IntValue()
	}
	t.Logf("migrations: %v", got)
	if split {
		// The child's other threads may move between CPUs too, within
		// node 0 when both are on it, and so count as local.
		assert.GreaterOrEqual(t, got["remote"], int64(migrateHops-1))
		return
	}
	assert.GreaterOrEqual(t, got["local"], int64(migrateHops-1))
	distinct := map[uint32]bool{}
	for _, n := range nodes {
		distinct[n] = true
	}
	if len(distinct) <= 1 {
		assert.Zero(t, got["remote"], "one NUMA node: no migration is remote")
	}
}

const reclaimLimitMiB = 64

// memcgV1 creates a memory cgroup limited to reclaimLimitMiB under this
// process's own, in the v1 memory hierarchy (hybrid hosts such as this one
// have no memory controller in cgroup v2), and returns its cgroup.procs.
func memcgV1(t *testing.T) string {
	t.Helper()
	var mount string
	f, err := os.Open("/proc/self/mounts")
	require.NoError(t, err)
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 && fields[2] == "cgroup" && strings.Contains(","+fields[3]+",", ",memory,") {
			mount = fields[1]
		}
	}
	if mount == "" {
		t.Skip("no cgroup v1 memory hierarchy to limit a child's memory")
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	var rel string
	for line := range strings.SplitSeq(string(own), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			rel = parts[2]
		}
	}
	dir := filepath.Join(mount, rel, "acceltel-reclaim-"+strconv.Itoa(os.Getpid()))
	require.NoError(t, os.Mkdir(dir, 0o755))
	t.Cleanup(func() { _ = os.Remove(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.Itoa(reclaimLimitMiB<<20)), 0))
	return filepath.Join(dir, "cgroup.procs")
}

// TestReclaim writes four times a memory cgroup's limit through the page
// cache from a child in a cgroup v2 of its own: the child stalls in memcg
// reclaim, and the stalls count to its cgroup v2.
func TestReclaim(t *testing.T) {
	for _, method := range []string{methodTPBTF, methodRawTP} {
		t.Run(method, func(t *testing.T) { testReclaim(t, method) })
	}
}

func testReclaim(t *testing.T, method string) {
	needRoot(t)
	procs := memcgV1(t)
	dir, id := mkCgroup(t, "acceltel-reclaim")
	cfg := createDefaultConfig().(*Config)
	cfg.BlockIO.Enabled = false
	cfg.AttachMethods = []string{method}
	s := startScraper(t, cfg)
	runChildIn(t, dir, "ACCELTEL_EBPF_RECLAIM="+procs+","+filepath.Join(t.TempDir(), "fill"))
	m := scrapeCgroup(t, s, id, metricReclaim)
	dp := m.ExponentialHistogram().DataPoints().At(0)
	checkBuckets(t, dp)
	mean := dp.Sum() / float64(dp.Count())
	t.Logf("reclaim: %d stalls, mean %.1f µs, total %.1f ms", dp.Count(), mean*1e6, dp.Sum()*1e3)
	// 192 MiB over the limit, reclaimed in batches of at most a few MiB.
	assert.GreaterOrEqual(t, dp.Count(), uint64(10))
	assert.Greater(t, mean, 1e-7, "mean stall implausibly short")
	assert.Less(t, mean, 1.0, "mean stall implausibly long")
}

// TestOptionalHookMissing attaches an optional hook to a tracepoint this
// kernel does not have: the receiver loads without it, says which, and the
// other programs run.
func TestOptionalHookMissing(t *testing.T) {
	needRoot(t)
	saved := hooks
	t.Cleanup(func() { hooks = saved })
	hooks = append(slices.Clone(saved), hook{
		tracepoint: "acceltel_no_such_tracepoint", signal: sigReclaim, optional: true, progs: btfRaw("direct_reclaim_begin"),
	})
	cfg := createDefaultConfig().(*Config)
	cfg.AttachMethods = []string{methodRawTP} // raw_tp attaches by tracepoint name
	host := &statusHost{}
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), loadProbe)
	require.NoError(t, s.start(context.Background(), host))
	require.NotNil(t, s.probe, "probe did not load; see the log")
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	assert.Len(t, s.probe.progs, len(saved))
	require.Error(t, s.probe.unattached())
	assert.Contains(t, s.probe.unattached().Error(), "acceltel_no_such_tracepoint")
	require.NotEmpty(t, host.events)
	v, ok := host.events[len(host.events)-1].Attributes().Get("acceltel.ebpf.unattached")
	require.True(t, ok)
	assert.Contains(t, v.Str(), "acceltel_no_such_tracepoint")
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
}
