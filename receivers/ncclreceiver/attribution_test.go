package ncclreceiver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// A sender's pid leads to its container and pod through <root_path>/proc.
func TestAttributionFromCgroup(t *testing.T) {
	const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const pod = "1c2b3a4d-0000-4000-8000-0123456789ab"
	root := t.TempDir()
	dir := filepath.Join(root, "proc", "4242")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"),
		[]byte("0::/kubepods/burstable/pod"+pod+"/"+cid+"\n"), 0o644))

	cfg := createDefaultConfig().(*Config)
	cfg.RootPath = root
	r := newNCCLReceiver(cfg, receivertest.NewNopSettings(typ))
	rec := sampleRecord("AllReduce", 8)
	r.st.add(4242, []record{rec, rec}, 9, testNow, r.owner)

	md := r.emitProc(procKey{pid: 4242, cudaDev: rec.CUDADev}, r.st.procs[procKey{4242, rec.CUDADev}], pcommon.NewTimestampFromTime(testNow))
	require.Equal(t, 1, md.ResourceMetrics().Len())
	res := md.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, map[string]any{"process.pid": int64(4242), "nccl.cuda.device": int64(1), "container.id": cid, "k8s.pod.uid": pod}, res)
	names := map[string]bool{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		names[ms.At(i).Name()] = true
		if ms.At(i).Name() == "acceltel.nccl.records.dropped" {
			assert.Equal(t, int64(9), ms.At(i).Sum().DataPoints().At(0).IntValue())
		}
		if ms.At(i).Name() == "nccl.operation.duration" {
			dp := ms.At(i).Histogram().DataPoints().At(0)
			assert.Equal(t, uint64(2), dp.Count())
			assert.InDelta(t, 100e-6, dp.Sum(), 1e-12)
		}
	}
	for _, n := range []string{"nccl.operation.count", "nccl.operation.bytes", "nccl.collective.bus_bandwidth",
		"nccl.operation.duration", "nccl.operation.bus_bandwidth", "acceltel.nccl.records.dropped"} {
		assert.True(t, names[n], n)
	}
}

// Garbage on the socket is counted by reason; the valid records beside it
// in the same datagram are kept.
func TestMalformedCounted(t *testing.T) {
	r, cfg, got, _ := startReceiver(t)
	c, err := net.Dial("unixgram", cfg.SocketPath)
	require.NoError(t, err)
	defer c.Close()
	bad := encode(0, sampleRecord("AllReduce", 8), sampleRecord("AllReduce", 8))
	bad[headerSize+72] = 7 // first record: unknown kind
	for _, b := range [][]byte{[]byte("hello"), bad} {
		_, err = c.Write(b)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return len(got()) == 1 }, 5*time.Second, 5*time.Millisecond)
	md, err := r.scrape(context.Background())
	require.NoError(t, err)
	counts := map[string]int64{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() != "acceltel.nccl.records.malformed" {
			continue
		}
		dps := ms.At(i).Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			reason, _ := dps.At(j).Attributes().Get("error.type")
			counts[reason.Str()] = dps.At(j).IntValue()
		}
	}
	assert.Equal(t, map[string]int64{"truncated": 1, "field": 1}, counts)
}

// With allowed_uids set, a datagram from any other user is dropped and
// counted; the uid is the kernel's, not something the sender wrote.
func TestAllowedUIDs(t *testing.T) {
	me := uint32(os.Getuid())
	for _, tc := range []struct {
		allowed  []uint32
		accepted bool
	}{
		{allowed: nil, accepted: true},
		{allowed: []uint32{me}, accepted: true},
		{allowed: []uint32{me + 1, me + 2}, accepted: false},
	} {
		r, cfg, got, _ := startReceiver(t, func(c *Config) { c.AllowedUIDs = tc.allowed })
		c, err := net.Dial("unixgram", cfg.SocketPath)
		require.NoError(t, err)
		_, err = c.Write(encode(0, sampleRecord("AllReduce", 8)))
		require.NoError(t, err)
		c.Close()
		var peer int64
		require.Eventually(t, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			peer = r.st.malformed["peer"]
			return len(got()) == 1 || peer == 1
		}, 5*time.Second, 5*time.Millisecond)
		assert.Equal(t, tc.accepted, len(got()) == 1, "allowed %v", tc.allowed)
		assert.Equal(t, !tc.accepted, peer == 1, "allowed %v", tc.allowed)
	}
}
