package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"fmt"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// gpu is one device with what was learnt about it at start: identity,
// the values that never change, and the calls it supports.
type gpu struct {
	dev      nvml.Device
	uuid     string
	resource pcommon.Resource

	collectors  []*collector
	unsupported []string

	// Static for the life of the device, so read once.
	maxClocks      [3]uint32 // graphics, sm, memory; 0 when unknown
	maxLinkGen     int
	maxLinkWidth   int
	hasMaxLinkGen  bool
	hasMaxLinkWith bool

	fields fieldSet
	procs  processState
	pod    podView

	gpm   *gpmState // nil without GPM
	gpmOK bool      // the GPU supports GPM, so its GPU instances may too

	migCapable bool
	migChecked time.Time
	mig        *migState // nil unless in MIG mode

	// Energy counter state; NVML's counter restarts at driver reload.
	energyStart pcommon.Timestamp
	energyBase  uint64
	lastEnergy  uint64
	lastEnergyT pcommon.Timestamp
	hasEnergy   bool
}

// observeEnergy keeps hw.energy a counter of the energy since its start
// time: from the first reading on, and from the last reading before a
// reset once the counter goes backwards.
func (g *gpu) observeEnergy(mj uint64, ts pcommon.Timestamp) {
	switch {
	case !g.hasEnergy:
		g.energyBase, g.energyStart, g.hasEnergy = mj, ts, true
	case mj < g.lastEnergy:
		g.energyBase, g.energyStart = 0, g.lastEnergyT
	}
	g.lastEnergy, g.lastEnergyT = mj, ts
}

// normalizeBusID turns NVML's 8-digit PCI domain (00000000:17:00.0) into the
// sysfs form (0000:17:00.0) other receivers use, lowercased as sysfs is.
func normalizeBusID(id string) string {
	id = strings.ToLower(id)
	dom, rest, ok := strings.Cut(id, ":")
	if !ok {
		return id
	}
	if len(dom) > 4 {
		dom = dom[len(dom)-4:]
	}
	return dom + ":" + rest
}

func cString(b []int8) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	out := make([]byte, n)
	for i := range n {
		out[i] = byte(b[i])
	}
	return string(out)
}

// cudaVersion renders NVML's 12040 as 12.4.
func cudaVersion(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
}

type hostInfo struct {
	driver, cuda string
}

// describe reads the identity of a device; only the UUID is required.
func describe(lib nvml.Interface, dev nvml.Device, index int, host hostInfo, rb *metadata.ResourceBuilder) (string, pcommon.Resource, error) {
	uuid, ret := dev.GetUUID()
	if ret != nvml.SUCCESS {
		return "", pcommon.Resource{}, fmt.Errorf("GPU %d: GetUUID: %w", index, ret)
	}
	rb.SetHwID(uuid)
	rb.SetHwVendor("NVIDIA")
	rb.SetNvidiaGpuIndex(int64(index))
	if name, ret := dev.GetName(); ret == nvml.SUCCESS {
		rb.SetHwModel(name)
	}
	if minor, ret := dev.GetMinorNumber(); ret == nvml.SUCCESS {
		rb.SetHwName(fmt.Sprintf("nvidia%d", minor))
	}
	if pci, ret := dev.GetPciInfo(); ret == nvml.SUCCESS {
		if id := cString(pci.BusId[:]); id != "" {
			rb.SetPciBusID(normalizeBusID(id))
		}
	}
	// nvmlDeviceGetNumaNodeId came with R535; older drivers lack the symbol.
	if lib.Extensions().LookupSymbol("nvmlDeviceGetNumaNodeId") == nil {
		if node, ret := dev.GetNumaNodeId(); ret == nvml.SUCCESS {
			rb.SetNvidiaGpuNumaNode(int64(node))
		}
	}
	if host.driver != "" {
		rb.SetNvidiaDriverVersion(host.driver)
	}
	if host.cuda != "" {
		rb.SetNvidiaCudaDriverVersion(host.cuda)
	}
	return uuid, rb.Emit(), nil
}

// probeStatic reads the maxima that never change.
func (g *gpu) probeStatic(lib nvml.Interface) {
	for i, c := range clockTypes {
		if v, ret := g.dev.GetMaxClockInfo(c); ret == nvml.SUCCESS {
			g.maxClocks[i] = v
		}
	}
	// The GPU's own maximum (R510+) rather than the one the slot allows, so a
	// GPU in a slower slot shows up as degraded.
	if lib.Extensions().LookupSymbol("nvmlDeviceGetGpuMaxPcieLinkGeneration") == nil {
		if v, ret := g.dev.GetGpuMaxPcieLinkGeneration(); ret == nvml.SUCCESS {
			g.maxLinkGen, g.hasMaxLinkGen = v, true
		}
	}
	if !g.hasMaxLinkGen {
		if v, ret := g.dev.GetMaxPcieLinkGeneration(); ret == nvml.SUCCESS {
			g.maxLinkGen, g.hasMaxLinkGen = v, true
		}
	}
	if v, ret := g.dev.GetMaxPcieLinkWidth(); ret == nvml.SUCCESS {
		g.maxLinkWidth, g.hasMaxLinkWith = v, true
	}
}

// activeNVLinks lists the links that are up; the driver answers
// INVALID_ARGUMENT or NOT_SUPPORTED past the last link the GPU has.
func activeNVLinks(dev nvml.Device) []int {
	var links []int
	for l := range nvml.NVLINK_MAX_LINKS {
		st, ret := dev.GetNvLinkState(l)
		if ret != nvml.SUCCESS {
			break
		}
		if st == nvml.FEATURE_ENABLED {
			links = append(links, l)
		}
	}
	return links
}

// podView is a resource named with the pod the kubelet assigned the device
// to, rebuilt only when the assignment changes.
type podView struct {
	ref podRef
	res pcommon.Resource
}

// resourceFor is base, named with its pod when it has one.
func (v *podView) resourceFor(base pcommon.Resource, ref podRef, ok bool, rc metadata.ResourceAttributesConfig) pcommon.Resource {
	if !ok {
		return base
	}
	if ref != v.ref || v.res == (pcommon.Resource{}) {
		res := pcommon.NewResource()
		base.CopyTo(res)
		putPod(res.Attributes(), ref, rc)
		v.ref, v.res = ref, res
	}
	return v.res
}

func putPod(attrs pcommon.Map, ref podRef, rc metadata.ResourceAttributesConfig) {
	if rc.K8sPodName.Enabled {
		attrs.PutStr("k8s.pod.name", ref.pod)
	}
	if rc.K8sNamespaceName.Enabled {
		attrs.PutStr("k8s.namespace.name", ref.namespace)
	}
	if rc.K8sContainerName.Enabled {
		attrs.PutStr("k8s.container.name", ref.container)
	}
}
