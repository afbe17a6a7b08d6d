package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Mirrors of native/ebpf/sched.h. The BPF side buckets durations in units of
// 2^-30 s at scale 2, so its slots are OTel exponential buckets in seconds.
const (
	histScale        = 2
	histMinLog2      = 6
	unitsLog2PerSec  = 30
	histSlots        = 144
	histIndexOffset  = histMinLog2<<histScale - unitsLog2PerSec<<histScale // OTel index of slot 0
	kindRunQueue     = 0
	kindOffCPUBase   = 1
	kindBioBase      = 4 // + REQ_OP_* 0..3, or + bioOpOther
	bioOpOther       = 4
	kindReclaim      = 9
	maxCPUs          = 8192 // MAX_CPUS, the cpu_node map's size
	offPreempted     = 0
	offSleep         = 1
	offIOWait        = 2
	nsPerSecond      = 1e9
	zeroThresholdLog = histMinLog2 - unitsLog2PerSec
)

// The generated struct must match the C layout this file assumes.
var _ [histSlots]uint64 = schedHist{}.Slots

// zeroThreshold is 2^-24 s (~60 ns): shorter waits are counted as zero.
var zeroThreshold = math.Ldexp(1, zeroThresholdLog)

// fillExpHistogram writes one kernel histogram as a cumulative OTel
// exponential histogram point.
func fillExpHistogram(dp pmetric.ExponentialHistogramDataPoint, h *schedHist, start, now pcommon.Timestamp) {
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(now)
	dp.SetScale(histScale)
	dp.SetZeroThreshold(zeroThreshold)
	dp.SetZeroCount(h.Zero)
	count := h.Zero
	lo, hi := -1, -1
	for i, c := range h.Slots {
		if c != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo >= 0 {
		dp.Positive().SetOffset(int32(lo + histIndexOffset))
		bc := dp.Positive().BucketCounts()
		bc.EnsureCapacity(hi - lo + 1)
		for _, c := range h.Slots[lo : hi+1] {
			bc.Append(c)
			count += c
		}
	}
	dp.SetCount(count)
	dp.SetSum(float64(h.SumNs) / nsPerSecond)
}

// histCount is the number of samples in a kernel histogram.
func histCount(h *schedHist) uint64 {
	n := h.Zero
	for _, c := range h.Slots {
		n += c
	}
	return n
}

// empty reports whether a kernel histogram has no sample.
func (h *schedHist) empty() bool { return h.SumNs == 0 && histCount(h) == 0 }

// addDelta adds cur - prev to h. The kernel's counts only grow while its
// entry lives; an entry that was deleted and made again (prev > cur) counts
// from zero.
func (h *schedHist) addDelta(cur, prev *schedHist) {
	if prev == nil || prev.Zero > cur.Zero || prev.SumNs > cur.SumNs {
		prev = &schedHist{}
	}
	for i := range h.Slots {
		if cur.Slots[i] >= prev.Slots[i] {
			h.Slots[i] += cur.Slots[i] - prev.Slots[i]
		} else {
			h.Slots[i] += cur.Slots[i]
		}
	}
	h.Zero += cur.Zero - prev.Zero
	h.SumNs += cur.SumNs - prev.SumNs
}
