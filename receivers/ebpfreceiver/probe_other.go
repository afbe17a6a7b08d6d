//go:build !linux

package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import "errors"

// probe exists only on Linux; elsewhere the receiver reports itself unavailable.
type probe struct{}

type progStats struct {
	name, method    string
	runs, runTimeNs uint64
}

func loadProbe(*Config) (*probe, error) { return nil, errors.New("eBPF needs Linux") }

func (*probe) Close() error               { return nil }
func (*probe) dropped() uint64            { return 0 }
func (*probe) programStats() []progStats  { return nil }
func (*probe) attachMethods() [][2]string { return nil }
func (*probe) hasStats() bool             { return false }
func (*probe) ruledOut() string           { return "" }
func (*probe) deleteCgroup(uint64)        {}
func (*probe) unattached() error          { return nil }
func (*probe) readCgroups(func(*schedHistKey, *schedHist), func(uint64, *cgroupCounters)) error {
	return nil
}
func (*probe) readBio(func(k *schedBioKey, h *schedBioHist)) error { return nil }
