//go:build linux

package ebpfreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fillHists loads the probe and adds n synthetic cgroups' scheduler entries
// (ids no real cgroup has), so that a read spans several batches.
func fillHists(tb testing.TB, n int) *probe {
	needRoot(tb)
	cfg := createDefaultConfig().(*Config)
	cfg.BlockIO.Enabled = false
	p, err := loadProbe(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { p.Close() })
	for i := range n {
		var v schedSchedCg
		v.H[kindRunQueue].Zero = uint64(i + 1)
		v.OncpuNs = uint64(2 * (i + 1))
		require.NoError(tb, p.maps["cg_sched"].Put(uint64(1<<40+i), &v))
	}
	return p
}

func TestBatchRead(t *testing.T) {
	const n = 3*batchSize + 17
	p := fillHists(t, n)
	read := func() (hists, oncpu map[uint64]uint64) {
		hists, oncpu = map[uint64]uint64{}, map[uint64]uint64{}
		require.NoError(t, p.readCgroups(func(k *schedHistKey, h *schedHist) {
			if k.CgroupId >= 1<<40 {
				assert.Equal(t, uint32(kindRunQueue), k.Kind, "only the non-empty kind")
				hists[k.CgroupId] = h.Zero
			}
		}, func(id uint64, c *cgroupCounters) {
			if id >= 1<<40 {
				oncpu[id] = c.onCPUNs
			}
		}))
		return hists, oncpu
	}
	hists, oncpu := read()
	assert.False(t, p.sched.noBatch, "this kernel (5.6+) has BPF_MAP_LOOKUP_BATCH")
	require.Len(t, hists, n)
	require.Len(t, oncpu, n)
	for id, z := range hists {
		assert.Equal(t, id-1<<40+1, z)
		assert.Equal(t, 2*z, oncpu[id])
	}
	p.sched.noBatch = true // the fallback: entry by entry
	h2, o2 := read()
	assert.Equal(t, hists, h2)
	assert.Equal(t, oncpu, o2)
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
			p.sched.noBatch = !batch
			var entries int
			for b.Loop() {
				entries = 0
				if err := p.readCgroups(func(*schedHistKey, *schedHist) { entries++ }, func(uint64, *cgroupCounters) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(entries), "entries")
		})
	}
}

// TestKernelCgroups: kernel_cgroups sizes the kernel maps.
func TestKernelCgroups(t *testing.T) {
	needRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.KernelCgroups = 128
	p, err := loadProbe(cfg)
	require.NoError(t, err)
	defer p.Close()
	for name, want := range map[string]uint32{"cg_sched": 128, "hists": 256} {
		info, err := p.maps[name].Info()
		require.NoError(t, err)
		assert.Equal(t, want, info.MaxEntries, name)
	}
	// The attached programs already keep this host's busy cgroups; fill the
	// rest: the map takes 128 in all, and no more.
	added := 0
	for i := range 256 {
		if err := p.maps["cg_sched"].Put(uint64(1<<40+i), &schedSchedCg{}); err != nil {
			require.ErrorIs(t, err, unix.E2BIG)
			break
		}
		added++
	}
	var n int
	it := p.maps["cg_sched"].Iterate()
	var k uint64
	var v schedSchedCg
	for it.Next(&k, &v) {
		n++
	}
	require.NoError(t, it.Err())
	assert.Equal(t, 128, n, "entries after adding %d", added)
	assert.Positive(t, added)
}
