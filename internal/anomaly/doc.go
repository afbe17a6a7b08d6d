// Package anomaly is acceltel's streaming anomaly engine: per-series detectors
// with constant memory (robust z-score on a rolling median/MAD, EWMA with
// adaptive variance, a binned seasonal baseline, a nearest-neighbour shape
// detector, novelty of steps between quantised levels, SPOT extreme-value
// thresholds), an ensemble that turns them into a score in [0,1] and an
// anomaly likelihood, a contextual anomaly detector after CAD OSE (bounded
// but much larger memory, not in the ensemble), and a peer-group (fleet)
// detector for stragglers.
//
// It is plain Go with no collector types so that the processor, a connector
// and the CLI can share it. Nothing here is safe for concurrent use: callers
// own one detector per series and serialise access to it.
package anomaly
