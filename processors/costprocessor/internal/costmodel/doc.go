// Package costmodel is the pricing and allocation engine of the cost
// processor. It knows nothing of the collector: it prices GPU time from a
// price book with effective dates and splits one GPU's cost of one interval
// between its holders and idle time.
//
// Money is int64 nano-dollars (Nanos). Splitting a cost between holders
// with floats would make workload + idle differ from the GPU's cost by a few
// ulps, and those differences accumulate in cumulative sums; distributing an
// integer amount by largest remainder makes the parts add up to the whole
// exactly, by construction. One nano-dollar is far below any price's
// precision, and int64 holds 9.2 billion dollars per series.
package costmodel // import "github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
