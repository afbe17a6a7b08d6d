package ncclreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// metricsNamed returns every metric called name, across resources.
func metricsNamed(md pmetric.Metrics, name string) []pmetric.Metric {
	var out []pmetric.Metric
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() == name {
					out = append(out, ms.At(k))
				}
			}
		}
	}
	return out
}

// lagsByRank reads nccl.rank.completion.lag of comm.
func lagsByRank(t *testing.T, md pmetric.Metrics, comm string) map[int64]float64 {
	t.Helper()
	lags := map[int64]float64{}
	for _, m := range metricsNamed(md, "nccl.rank.completion.lag") {
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			a := dps.At(i).Attributes()
			if c, _ := a.Get("nccl.communicator.id"); c.Str() != comm {
				continue
			}
			rank, _ := a.Get("nccl.rank")
			lags[rank.Int()] = dps.At(i).DoubleValue()
		}
	}
	return lags
}

// Four ranks of one communicator, each its own process; rank 2 finishes
// every all-reduce 3 ms after the others, which differ by up to 40 µs.
func TestCompletionSpreadLateRank(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	r := newNCCLReceiver(cfg, receivertest.NewNopSettings(typ))
	now := time.Now()
	start := uint64(now.UnixNano())
	const seqs = 50
	for seq := 1; seq <= seqs; seq++ {
		for rank := int32(0); rank < 4; rank++ {
			rec := sampleRecord("AllReduce", 4)
			rec.Rank, rec.PID, rec.CUDADev = rank, 100+rank, rank
			rec.Seq = uint64(seq)
			rec.StartUnixNs = start + uint64(seq)*10_000_000 + uint64(rank)*1_000 // staggered starts
			rec.DurationNs = 1_000_000 + uint64((seq*7+int(rank)*13)%40)*1_000 - uint64(rank)*1_000
			if rank == 2 {
				rec.DurationNs += 3_000_000
			}
			r.st.add(100+rank, []record{rec}, 0, now, nil)
		}
	}
	// A P2P record and a record without a start carry no completion.
	p2p := sampleRecord("Send", 4)
	p2p.Kind = kindP2P
	r.st.add(100, []record{p2p}, 0, now, nil)

	md, err := r.scrape(context.Background())
	require.NoError(t, err)
	spreads := metricsNamed(md, "nccl.collective.completion.spread")
	require.Len(t, spreads, 1)
	dps := spreads[0].Histogram().DataPoints()
	require.Equal(t, 1, dps.Len())
	dp := dps.At(0)
	assert.Equal(t, uint64(seqs), dp.Count(), "one spread per sequence number")
	assert.InDelta(t, 3e-3, dp.Sum()/float64(dp.Count()), 1e-4)
	assert.InDelta(t, 3e-3, dp.Min(), 1e-4)
	comm, _ := dp.Attributes().Get("nccl.communicator.id")
	fn, _ := dp.Attributes().Get("nccl.collective")
	size, _ := dp.Attributes().Get("nccl.communicator.size")
	assert.Equal(t, "0xabc", comm.Str())
	assert.Equal(t, "AllReduce", fn.Str())
	assert.Equal(t, int64(4), size.Int())

	lags := lagsByRank(t, md, "0xabc")
	require.Len(t, lags, 4)
	assert.InDelta(t, 3e-3, lags[2], 1e-4, "the late rank")
	for _, rank := range []int64{0, 1, 3} {
		assert.InDelta(t, 0, lags[rank], 5e-5, "rank %d", rank)
	}
	ev := metricsNamed(md, "acceltel.nccl.sequences.evicted")
	require.Len(t, ev, 1)
	assert.Equal(t, int64(0), ev[0].Sum().DataPoints().At(0).IntValue())

	// The lag is per interval: nothing new, no lag; the spread is cumulative.
	md, err = r.scrape(context.Background())
	require.NoError(t, err)
	assert.Empty(t, lagsByRank(t, md, "0xabc"))
	assert.Equal(t, uint64(seqs), metricsNamed(md, "nccl.collective.completion.spread")[0].Histogram().DataPoints().At(0).Count())
}

// A rank that stops reporting: the others' sequence numbers wait for it,
// at most max_pending of them per communicator; older ones are evicted and
// counted, and what waited max_wait is closed with the ranks that reported.
func TestCompletionSpreadEvictionAndTimeout(t *testing.T) {
	st := newState()
	st.spread = newSpreadTracker(2*time.Second, 4)
	t0 := time.Now()
	rec := func(rank int32, seq uint64) []record {
		r := sampleRecord("AllGather", 3)
		r.Rank, r.Seq = rank, seq
		r.StartUnixNs = uint64(t0.UnixNano()) + seq*1_000_000
		r.DurationNs = 100_000 + uint64(rank)*50_000
		return []record{r}
	}
	for rank := range int32(3) { // all three ranks report seq 0
		st.add(10+rank, rec(rank, 0), 0, t0, nil)
	}
	for seq := uint64(1); seq <= 10; seq++ { // rank 2 is gone
		st.add(10, rec(0, seq), 0, t0, nil)
		st.add(11, rec(1, seq), 0, t0, nil)
	}
	tr := st.spread.tracks[spreadKey{commID: 0xabc, fn: name16("AllGather")}]
	require.NotNil(t, tr)
	assert.Equal(t, int64(6), st.spread.evicted, "seqs 1-6 evicted, 7-10 pending")
	assert.Len(t, tr.pending, 4)
	assert.Equal(t, uint64(1), tr.spread.count, "seq 0 only")

	st.expire(t0.Add(3*time.Second), time.Hour) // max_wait passed
	assert.Empty(t, tr.pending)
	assert.Equal(t, uint64(5), tr.spread.count, "seqs 7-10 closed with two ranks")
	assert.InDelta(t, 100e-6, tr.spread.max, 1e-9, "seq 0, three ranks")
	assert.InDelta(t, 50e-6, tr.spread.min, 1e-9, "seqs 7-10, two ranks")
	assert.Empty(t, tr.order)

	st.expire(t0.Add(2*time.Hour), time.Hour) // the job is over
	assert.Empty(t, st.spread.tracks)
}

// A communicator with a single local rank yields no spread and keeps
// nothing pending once it is older than max_wait.
func TestCompletionSpreadSingleRank(t *testing.T) {
	st := newState()
	t0 := time.Now()
	for seq := range uint64(5000) {
		r := sampleRecord("AllReduce", 8)
		r.Seq = seq
		st.add(1, []record{r}, 0, t0.Add(time.Duration(seq)*time.Millisecond), nil)
	}
	tr := st.spread.tracks[spreadKey{commID: 0xabc, fn: name16("AllReduce")}]
	require.NotNil(t, tr)
	assert.Zero(t, tr.spread.count)
	assert.Empty(t, tr.pending)
	assert.Zero(t, st.spread.evicted)
}
