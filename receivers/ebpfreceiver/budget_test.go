package ebpfreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

// budgetScrape runs one scrape's histogram pass over synthetic kernel
// entries: cgroup id -> run-queue samples so far (all in one bucket, 1 µs each).
func budgetScrape(s *ebpfScraper, counts map[uint64]uint64) pmetric.Metrics {
	var entries []histEntry
	for id, n := range counts {
		e := histEntry{k: schedHistKey{CgroupId: id, Kind: kindRunQueue}}
		e.h.Slots[10] = n
		e.h.SumNs = 1000 * n
		entries = append(entries, e)
	}
	md := pmetric.NewMetrics()
	// On-CPU time: 1 ms per sample, which the ranking counts as one more
	// each; migrations, one per sample, in the same node: one more.
	counters := map[uint64]cgroupCounters{}
	for id, n := range counts {
		counters[id] = cgroupCounters{onCPUNs: n * 1e6, migrations: [2]uint64{n, 0}}
	}
	s.emitHistograms(md, pcommon.NewTimestampFromTime(time.Now()), entries, counters)
	return md
}

// budgetCounts returns the run-queue count of each resource, keyed by cgroup
// id, with the "other" resource under 0.
func budgetCounts(t *testing.T, md pmetric.Metrics) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for i := range md.ResourceMetrics().Len() {
		rm := md.ResourceMetrics().At(i)
		var id uint64
		if v, ok := rm.Resource().Attributes().Get("acceltel.cgroup.id"); ok {
			id = uint64(v.Int())
		} else {
			p, _ := rm.Resource().Attributes().Get("acceltel.cgroup.path")
			require.Equal(t, otherCgroup, p.Str())
		}
		m, ok := metricByName(rm, metricRunQueue)
		require.True(t, ok)
		dp := m.ExponentialHistogram().DataPoints().At(0)
		assert.InDelta(t, float64(dp.Count())*1e-6, dp.Sum(), 1e-9)
		out[id] = dp.Count()
		on, ok := metricByName(rm, metricOnCPU)
		require.True(t, ok)
		assert.InDelta(t, float64(dp.Count())*1e-3, on.Sum().DataPoints().At(0).DoubleValue(), 1e-9)
		mig, ok := metricByName(rm, metricMigrations)
		require.True(t, ok)
		require.Equal(t, 2, mig.Sum().DataPoints().Len())
		assert.Equal(t, int64(dp.Count()), mig.Sum().DataPoints().At(0).IntValue())
		assert.Equal(t, int64(0), mig.Sum().DataPoints().At(1).IntValue())
	}
	return out
}

func TestCardinalityBudget(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxCgroups = 2
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), loadProbe)
	s.cgroups = newCgroupResolver("") // ids only

	// Within the budget: no "other".
	got := budgetCounts(t, budgetScrape(s, map[uint64]uint64{1: 5, 2: 7}))
	assert.Equal(t, map[uint64]uint64{1: 5, 2: 7}, got)

	// Five cgroups: the two busiest in this interval stand alone (with their
	// cumulative counts), the other three are summed since the last scrape.
	got = budgetCounts(t, budgetScrape(s, map[uint64]uint64{1: 6, 2: 8, 3: 100, 4: 50, 5: 2}))
	assert.Equal(t, map[uint64]uint64{3: 100, 4: 50, 0: 1 + 1 + 2}, got)

	// Cgroup 1 becomes the busiest: it stands alone with its cumulative count;
	// 4 drops to "other", which adds only its samples since the last scrape.
	got = budgetCounts(t, budgetScrape(s, map[uint64]uint64{1: 1006, 2: 8, 3: 200, 4: 51, 5: 2}))
	assert.Equal(t, map[uint64]uint64{1: 1006, 3: 200, 0: 4 + 0 + 1 + 0}, got)

	// The series count stays at max_cgroups + 1 whatever the number of cgroups.
	many := map[uint64]uint64{}
	for id := range uint64(1000) {
		many[id+10] = id
	}
	md := budgetScrape(s, many)
	assert.Equal(t, cfg.MaxCgroups+1, md.ResourceMetrics().Len())
	got = budgetCounts(t, md)
	assert.Equal(t, uint64(999), got[1009])
	assert.Equal(t, uint64(998), got[1008])
	// "other" is cumulative: it never goes down.
	assert.GreaterOrEqual(t, got[0], uint64(5))
}

// TestOneDescriptionPerName: the block IO byte counter is built by mdatagen
// for disks and by hand for cgroups; both must say the same, or an exporter
// logs a conflict at every scrape.
func TestOneDescriptionPerName(t *testing.T) {
	mb := metadata.NewMetricsBuilder(metadata.NewDefaultMetricsBuilderConfig(), receivertest.NewNopSettings(metadata.Type))
	mb.RecordAcceltelEbpfBlockioIoDataPoint(pcommon.NewTimestampFromTime(time.Now()), 1, "sda", metadata.AttributeOperationRead)
	md := mb.Emit()
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	require.Equal(t, metricBlockIOBytes, m.Name())
	assert.Equal(t, descBlockIOBytes, m.Description())
}
