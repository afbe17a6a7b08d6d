//go:build linux

package ebpfreceiver

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

// noiseReaders is how many threads of the noise child read at once: enough
// to keep requests queued in the IO scheduler, so that each reader's
// submission dispatches the others' requests.
const noiseReaders = 4

// runDIONoise is the noise child: it writes a file per reader (and reads it
// back), prints "ready", then noiseReaders threads read 4 KiB blocks of
// their files with O_DIRECT for a second; last it prints all its reads.
func runDIONoise(dir string) {
	var paths []string
	for i := range noiseReaders {
		paths = append(paths, filepath.Join(dir, "noise"+strconv.Itoa(i)))
		if _, err := directIOFile(paths[i], dioBlocks); err != nil {
			fail(err)
		}
	}
	var reads atomic.Int64
	reads.Add(noiseReaders * dioBlocks)
	os.Stdout.WriteString("ready\n")
	var wg sync.WaitGroup
	stop := time.Now().Add(time.Second)
	for _, path := range paths {
		wg.Go(func() {
			f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
			if err != nil {
				fail(err)
			}
			defer f.Close()
			buf, err := dioBuffer()
			if err != nil {
				fail(err)
			}
			defer unix.Munmap(buf)
			for n := 0; time.Now().Before(stop); n++ {
				if _, err := f.ReadAt(buf, int64(n%dioBlocks)*4096); err != nil {
					fail(err)
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	os.Stdout.WriteString(strconv.FormatInt(reads.Load(), 10))
	os.Exit(0)
}

func fail(err error) {
	os.Stderr.WriteString(err.Error())
	os.Exit(1)
}

// TestBlockIOAttribution runs the O_DIRECT child while another cgroup keeps
// the disk's queue busy with reads of its own. Each request must count to
// the cgroup whose task made it, not to the task that happened to dispatch
// it: keyed at block_rq_issue, the measured cgroup got 65–68 reads for its
// 64 in 6 of 8 runs.
func TestBlockIOAttribution(t *testing.T) {
	needRoot(t)
	ioDir, ioID := mkCgroup(t, "acceltel-io")
	noiseDir, noiseID := mkCgroup(t, "acceltel-noise")

	cfg := createDefaultConfig().(*Config)
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), loadProbe)
	require.NoError(t, s.start(context.Background(), &statusHost{}))
	require.NotNil(t, s.probe, "probe did not load; see the log")
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	if err := s.probe.unattached(); err != nil && strings.Contains(err.Error(), "block_io_start") {
		t.Skipf("block_io_start needs Linux 6.5+: %v", err)
	}

	noise := childIn(t, noiseDir, "ACCELTEL_EBPF_DIO_NOISE="+t.TempDir())
	noise.Stderr = os.Stderr
	stdout, err := noise.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, noise.Start())
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	require.Equal(t, "ready\n", line, err)
	runChildIn(t, ioDir, "ACCELTEL_EBPF_DIO="+filepath.Join(t.TempDir(), "direct"))
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, noise.Wait())
	noiseReads, err := strconv.ParseUint(string(rest), 10, 64)
	require.NoError(t, err, string(rest))

	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	iorm, found := findCgroupResource(md, ioID)
	require.True(t, found, "no series for the IO cgroup")
	nrm, found := findCgroupResource(md, noiseID)
	require.True(t, found, "no series for the noise cgroup")

	// Each request counts to the cgroup that made it: the IO cgroup has at
	// most its own reads (reads of the test binary's pages could add some,
	// but it is in the page cache), and the noise cgroup at least its own,
	// less the completions the kernel did not show the programs (counted)
	// and 0.1% (two of its reads merged into one request, or a
	// block_io_start that reached no program: 1 read in 1 of 40 runs).
	lost := lostBlockIO(t, s)
	reqs, _ := cgroupBlockIO(iorm, "read")
	assert.LessOrEqual(t, reqs, uint64(dioBlocks), "IO cgroup reads")
	assert.GreaterOrEqual(t, reqs+lost, uint64(dioBlocks), "IO cgroup reads")
	nreqs, _ := cgroupBlockIO(nrm, "read")
	assert.GreaterOrEqual(t, nreqs+lost+noiseReads/1000, noiseReads, "noise cgroup reads")
	assert.LessOrEqual(t, lost*10, noiseReads, "more than 10% of completions unseen")
	t.Logf("IO cgroup: %d reads; noise cgroup: %d reads counted, %d made; %d completions unseen", reqs, nreqs, noiseReads, lost)
}

// lostBlockIO is how many block requests' completions the programs may have
// missed: those found at their next issue (the drop counter) and, with the
// IO done, the requests still in bio_start.
func lostBlockIO(t *testing.T, s *ebpfScraper) uint64 {
	var k uint64
	var v schedBioStartVal
	n := s.probe.dropped()
	it := s.probe.maps["bio_start"].Iterate()
	for it.Next(&k, &v) {
		n++
	}
	require.NoError(t, it.Err())
	return n
}
