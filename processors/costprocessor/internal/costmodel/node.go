package costmodel

// BasePrices are OpenCost's reference prices, used only to share a node's
// price between its CPU, RAM and GPUs in proportion; OpenCost's
// configs/default.json ships the defaults below.
type BasePrices struct {
	CPUPerVCPUHour float64
	RAMPerGiBHour  float64
	GPUPerGPUHour  float64
}

// OpenCostDefaultBasePrices are the defaults of OpenCost's configs/default.json.
var OpenCostDefaultBasePrices = BasePrices{CPUPerVCPUHour: 0.031611, RAMPerGiBHour: 0.004237, GPUPerGPUHour: 0.95}

// SplitNode shares a node's hourly price between its CPU, RAM and GPUs the
// way OpenCost does when only the node price is known: each resource gets
// the node price times its base cost over the node's total base cost. A node
// with no base cost at all (no resources described) gives everything to GPUs,
// since this processor prices GPU nodes.
func SplitNode(nodePerHour, vcpus, ramGiB, gpus float64, base BasePrices) (cpu, ram, gpu float64) {
	bc := vcpus * base.CPUPerVCPUHour
	br := ramGiB * base.RAMPerGiBHour
	bg := gpus * base.GPUPerGPUHour
	total := bc + br + bg
	if !(total > 0) {
		return 0, 0, nodePerHour
	}
	return nodePerHour * bc / total, nodePerHour * br / total, nodePerHour * bg / total
}

// AmortisedPerHour is an on-prem GPU's hourly capital cost: purchase price
// spread evenly over its lifetime (straight-line, as finance does), with no
// salvage value. Energy is billed separately from the measured counter.
func AmortisedPerHour(purchasePrice, lifetimeYears float64) float64 {
	const hoursPerYear = 365.25 * 24
	if !(lifetimeYears > 0) {
		return 0
	}
	return purchasePrice / (lifetimeYears * hoursPerYear)
}

// USDPerJoule turns an electricity price per kWh and the facility's PUE into
// a price per joule the GPU measured (1 kWh = 3.6e6 J).
func USDPerJoule(perKWh, pue float64) float64 {
	if pue <= 0 {
		pue = 1
	}
	return perKWh * pue / 3.6e6
}
