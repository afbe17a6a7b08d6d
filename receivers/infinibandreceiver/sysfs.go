package infinibandreceiver // import "github.com/acceltel/acceltel/receivers/infinibandreceiver"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileReader reads small sysfs files into one reused buffer: a scrape reads
// hundreds of them and each os.ReadFile would allocate.
type fileReader struct {
	buf [128]byte
}

// read returns the trimmed content of path; the slice is valid until the next call.
// A file longer than the buffer is an error, not a value cut short.
func (r *fileReader) read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, err := io.ReadFull(f, r.buf[:])
	if err == nil { // the buffer is full: is there more?
		var one [1]byte
		if m, _ := f.Read(one[:]); m > 0 {
			err = fmt.Errorf("%s: longer than %d bytes", path, len(r.buf))
		}
	}
	_ = f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return bytes.TrimSpace(r.buf[:n]), nil
}

func (r *fileReader) readString(path string) (string, error) {
	b, err := r.read(path)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (r *fileReader) readUint(path string) (uint64, error) {
	b, err := r.read(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: not a counter: %q", path, b)
	}
	return v, nil
}

// portState parses "4: ACTIVE" into the metric's enum value.
func portState(s string) (string, bool) {
	switch code, _, _ := strings.Cut(s, ":"); strings.TrimSpace(code) {
	case "1":
		return "down", true
	case "2":
		return "init", true
	case "3":
		return "armed", true
	case "4":
		return "active", true
	case "5":
		return "active_defer", true
	}
	return "", false
}

// physState parses "5: LinkUp" into the metric's enum value.
func physState(s string) (string, bool) {
	switch code, _, _ := strings.Cut(s, ":"); strings.TrimSpace(code) {
	case "1":
		return "sleep", true
	case "2":
		return "polling", true
	case "3":
		return "disabled", true
	case "4":
		return "port_configuration_training", true
	case "5":
		return "link_up", true
	case "6":
		return "link_error_recovery", true
	case "7":
		return "phy_test", true
	}
	return "", false
}

// maxRateGbps bounds a link rate: 1 Pb/s, far above any port (XDR is 800 Gb/s).
const maxRateGbps = 1e6

// linkRate parses "100 Gb/sec (4X EDR)" or "2.5 Gb/sec (1X SDR)" into bytes per second.
func linkRate(s string) (int64, error) {
	num, rest, ok := strings.Cut(s, " ")
	if !ok || !strings.HasPrefix(rest, "Gb/sec") {
		return 0, fmt.Errorf("unknown rate format %q", s)
	}
	gbps, err := strconv.ParseFloat(num, 64)
	// NaN, infinities and absurd rates would not convert to an int64.
	if err != nil || !(gbps >= 0 && gbps <= maxRateGbps) {
		return 0, fmt.Errorf("unknown rate format %q", s)
	}
	return int64(gbps * 1e9 / 8), nil
}

// pciDevice is where a device sits in the PCI hierarchy.
type pciDevice struct {
	busID string
	// path is the device's directory below /sys/devices, one element per
	// hop: [pci0000:15 0000:15:01.0 0000:16:00.0 0000:17:00.0].
	path     []string
	numaNode int64
}

// readPCIDevice resolves a sysfs device link (…/device, or a
// /sys/bus/pci/devices entry) within sysRoot, which is <root_path>/sys.
func readPCIDevice(r *fileReader, sysRoot, link string) (pciDevice, error) {
	resolved, err := filepath.EvalSymlinks(link)
	if err != nil {
		return pciDevice{}, err
	}
	devices, err := filepath.EvalSymlinks(filepath.Join(sysRoot, "devices"))
	if err != nil {
		return pciDevice{}, err
	}
	rel, err := filepath.Rel(devices, resolved)
	if err != nil || strings.HasPrefix(rel, "..") {
		return pciDevice{}, fmt.Errorf("%s resolves outside %s", link, devices)
	}
	d := pciDevice{path: strings.Split(rel, string(filepath.Separator)), numaNode: -1}
	d.busID = d.path[len(d.path)-1]
	if s, err := r.readString(filepath.Join(resolved, "numa_node")); err == nil {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			d.numaNode = n
		}
	}
	return d, nil
}

// affinity says how close two PCI devices are: below one root port (so one
// PCIe switch), below one host bridge, or on one NUMA node.
func affinity(a, b pciDevice) (string, int) {
	common := 0
	for common < len(a.path)-1 && common < len(b.path)-1 && a.path[common] == b.path[common] {
		common++
	}
	switch {
	case common >= 2:
		return "pci_switch", 3
	case common == 1:
		return "host_bridge", 2
	case a.numaNode >= 0 && a.numaNode == b.numaNode:
		return "numa_node", 1
	}
	return "", 0
}

// discoverGPUs lists NVIDIA display and 3D controllers on the PCI bus.
func discoverGPUs(r *fileReader, sysRoot string) ([]pciDevice, error) {
	dir := filepath.Join(sysRoot, "bus", "pci", "devices")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var gpus []pciDevice
	for _, e := range entries {
		link := filepath.Join(dir, e.Name())
		vendor, err := r.readString(filepath.Join(link, "vendor"))
		if err != nil || vendor != "0x10de" {
			continue
		}
		class, err := r.readString(filepath.Join(link, "class"))
		if err != nil || !strings.HasPrefix(class, "0x0302") && !strings.HasPrefix(class, "0x0300") {
			continue
		}
		d, err := readPCIDevice(r, sysRoot, link)
		if err != nil {
			continue
		}
		gpus = append(gpus, d)
	}
	return gpus, nil
}
