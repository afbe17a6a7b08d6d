package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuNodes maps each CPU to its NUMA node from <dir>/node*/cpulist (dir is
// /sys/devices/system/node). A kernel without NUMA has no such directory:
// every CPU is then on node 0 and no migration crosses nodes.
func cpuNodes(dir string) (map[uint32]uint32, error) {
	lists, err := filepath.Glob(filepath.Join(dir, "node[0-9]*", "cpulist"))
	if err != nil {
		return nil, err
	}
	out := map[uint32]uint32{}
	for _, f := range lists {
		node, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "node"), 10, 32)
		if err != nil {
			continue // not nodeN
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		cpus, err := parseCPUList(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, c := range cpus {
			out[c] = uint32(node)
		}
	}
	return out, nil
}

// parseCPUList parses the kernel's list format: "0-3,8,10-11"; empty for a
// node without CPUs.
func parseCPUList(s string) ([]uint32, error) {
	var out []uint32
	if s == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad cpu list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b < a {
				return nil, fmt.Errorf("bad cpu list %q", s)
			}
		}
		if b >= maxCPUs {
			return nil, fmt.Errorf("cpu %d in %q: at most %d CPUs", b, s, maxCPUs)
		}
		for c := a; c <= b; c++ {
			out = append(out, uint32(c))
		}
	}
	return out, nil
}
