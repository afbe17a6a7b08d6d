//go:build linux

package ebpfreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fillHists loads the probe and adds n synthetic cgroups' run-queue
// histograms (ids no real cgroup has), so that a read spans several batches.
func fillHists(tb testing.TB, n int) *probe {
	needRoot(tb)
	cfg := createDefaultConfig().(*Config)
	cfg.BlockIO.Enabled = false
	p, err := loadProbe(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { p.Close() })
	for i := range n {
		k := schedHistKey{CgroupId: 1<<40 + uint64(i)}
		h := schedHist{Zero: uint64(i + 1)}
		require.NoError(tb, p.maps["hists"].Put(&k, &h))
	}
	return p
}

func TestBatchRead(t *testing.T) {
	const n = 3*batchSize + 17
	p := fillHists(t, n)
	read := func() map[uint64]uint64 {
		got := map[uint64]uint64{}
		require.NoError(t, p.readHists(func(k *schedHistKey, h *schedHist) {
			if k.CgroupId >= 1<<40 {
				got[k.CgroupId] = h.Zero
			}
		}))
		return got
	}
	batched := read()
	assert.False(t, p.hists.noBatch, "this kernel (5.6+) has BPF_MAP_LOOKUP_BATCH")
	require.Len(t, batched, n)
	for id, z := range batched {
		assert.Equal(t, id-1<<40+1, z)
	}
	p.hists.noBatch = true // the fallback: entry by entry
	assert.Equal(t, batched, read())
}

// BenchmarkReadHists reads 1000 cgroups' histograms in batches and entry by
// entry.
func BenchmarkReadHists(b *testing.B) {
	for _, batch := range []bool{true, false} {
		name := "iterate"
		if batch {
			name = "batch"
		}
		b.Run(name, func(b *testing.B) {
			p := fillHists(b, 1000)
			p.hists.noBatch = !batch
			var entries int
			for b.Loop() {
				entries = 0
				if err := p.readHists(func(*schedHistKey, *schedHist) { entries++ }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(entries), "entries")
		})
	}
}
