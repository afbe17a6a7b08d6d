// Package sdk is the public Go SDK for acceltel benchmark plugins: a plugin
// implements Plugin and calls Serve from main; the collector (and the
// acceltel CLI) start it with Open and talk to it over gRPC via go-plugin.
package sdk // import "github.com/acceltel/acceltel/plugins/sdk"

import (
	"context"
	"time"

	"github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the go-plugin protocol version of package benchv1. A
// plugin and a host agree on it in the handshake, so an incompatible plugin
// is refused with a clear error instead of failing on its first call.
const ProtocolVersion = 1

// Handshake is shared by hosts and plugins. The cookie only tells a user who
// runs a plugin binary by hand that it is not meant to be run that way.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "ACCELTEL_BENCH_PLUGIN",
	MagicCookieValue: "5c0e8d1f-benchmark",
}

// PluginName is the name under which the plugin is dispensed.
const PluginName = "benchmark"

// Plugin is what a plugin author implements.
type Plugin interface {
	// Describe returns the plugin's identity and benchmarks; keep it cheap.
	Describe(ctx context.Context) (Info, error)
	// Run runs one benchmark. Params are already checked against the
	// benchmark's declaration and completed with defaults. Run should stop
	// when ctx is done; a host kills a plugin that does not.
	Run(ctx context.Context, benchmark string, params Params, emit func(Measurement) error) error
}

// Info describes a plugin.
type Info struct {
	Name       string
	Version    string
	Benchmarks []Benchmark
}

// Benchmark describes one benchmark a plugin offers.
type Benchmark struct {
	Name                 string
	Description          string
	Parameters           []Parameter
	RequiredCapabilities []string // e.g. "cuda"
	Units                []string // UCUM units of its measurements
}

// ParamType is the type of a parameter's value.
type ParamType int

// Parameter types; the numbers match benchv1.Parameter_Type.
const (
	String ParamType = iota + 1
	Int
	Double
	Bool
	Duration
	Bytes // an integer count of bytes, written as 64MiB, 1GB or 4096
)

// Parameter declares one parameter of a benchmark.
type Parameter struct {
	Name        string
	Type        ParamType
	Description string
	Default     string
	Unit        string
}

// Measurement is one result of a run.
type Measurement struct {
	Name       string // lower-case, dot-separated, e.g. memory.bandwidth
	Unit       string // UCUM, e.g. By/s
	Value      float64
	Attributes map[string]string
	// Peak is the reference peak in Unit, or 0 when it is not known.
	Peak     float64
	Duration time.Duration
}

// Find returns the benchmark named name.
func (i Info) Find(name string) (Benchmark, bool) {
	for _, b := range i.Benchmarks {
		if b.Name == name {
			return b, true
		}
	}
	return Benchmark{}, false
}
