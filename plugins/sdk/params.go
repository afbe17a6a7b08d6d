package sdk

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Params are a run's parameters, checked and completed with defaults by
// CheckParams; the getters therefore never fail on a declared parameter.
type Params map[string]string

// CheckParams checks raw against the declaration of b and fills in defaults.
// Hosts call it before a run for a clear config error; Serve calls it again
// because a plugin must not trust its host.
func CheckParams(b Benchmark, raw map[string]string) (Params, error) {
	out := Params{}
	declared := map[string]Parameter{}
	for _, p := range b.Parameters {
		declared[p.Name] = p
		if p.Default != "" {
			out[p.Name] = p.Default
		}
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		p, ok := declared[k]
		if !ok {
			return nil, fmt.Errorf("benchmark %s has no parameter %q", b.Name, k)
		}
		if err := checkValue(p.Type, raw[k]); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", k, err)
		}
		out[k] = raw[k]
	}
	// A plugin's own default must be of its type too, or a getter would
	// silently read it as zero.
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if _, set := raw[k]; set {
			continue
		}
		if err := checkValue(declared[k].Type, out[k]); err != nil {
			return nil, fmt.Errorf("benchmark %s: default of parameter %s: %w", b.Name, k, err)
		}
	}
	return out, nil
}

func checkValue(t ParamType, v string) error {
	var err error
	switch t {
	case Int:
		_, err = strconv.ParseInt(v, 10, 64)
	case Double:
		_, err = strconv.ParseFloat(v, 64)
	case Bool:
		_, err = strconv.ParseBool(v)
	case Duration:
		_, err = time.ParseDuration(v)
	case Bytes:
		_, err = ParseBytes(v)
	}
	return err
}

// Int returns an Int parameter.
func (p Params) Int(name string) int64 { v, _ := strconv.ParseInt(p[name], 10, 64); return v }

// Double returns a Double parameter.
func (p Params) Double(name string) float64 { v, _ := strconv.ParseFloat(p[name], 64); return v }

// Bool returns a Bool parameter.
func (p Params) Bool(name string) bool { v, _ := strconv.ParseBool(p[name]); return v }

// Duration returns a Duration parameter.
func (p Params) Duration(name string) time.Duration { v, _ := time.ParseDuration(p[name]); return v }

// Bytes returns a Bytes parameter.
func (p Params) Bytes(name string) int64 { v, _ := ParseBytes(p[name]); return v }

var byteSuffixes = []struct {
	s string
	m int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// ParseBytes reads a byte count such as 4096, 64MiB or 1GB.
func ParseBytes(s string) (int64, error) {
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, suf := range byteSuffixes {
		if strings.HasSuffix(num, suf.s) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte count (e.g. 4096, 64MiB, 1GB)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is more bytes than an int64 holds", s)
	}
	return n * mult, nil
}
