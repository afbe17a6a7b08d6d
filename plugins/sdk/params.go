package sdk

import (
	"fmt"
	"maps"
	"math"
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
	out := make(Params, len(b.Parameters)+len(raw))
	for _, p := range b.Parameters {
		if p.Default != "" {
			out[p.Name] = p.Default
		}
	}
	// Of several bad keys the least is reported, so that an error reads the
	// same every time; keeping the least costs less than sorting the keys
	// on every Run.
	var badKey string
	var bad error
	fail := func(k string, err error) {
		if bad == nil || k < badKey {
			badKey, bad = k, err
		}
	}
	for k, v := range raw {
		p, ok := declared(b.Parameters, k)
		if !ok {
			fail(k, fmt.Errorf("benchmark %s has no parameter %q", b.Name, k))
		} else if err := checkValue(p.Type, v); err != nil {
			fail(k, fmt.Errorf("parameter %s: %w", k, err))
		}
	}
	if bad != nil {
		return nil, bad
	}
	// A plugin's own default must be of its type too, or a getter would
	// silently read it as zero.
	for k, v := range out {
		if _, set := raw[k]; set {
			continue
		}
		p, _ := declared(b.Parameters, k)
		if err := checkValue(p.Type, v); err != nil {
			fail(k, fmt.Errorf("benchmark %s: default of parameter %s: %w", b.Name, k, err))
		}
	}
	if bad != nil {
		return nil, bad
	}
	maps.Copy(out, raw)
	return out, nil
}

// declared finds the parameter named name. A benchmark declares a few, so a
// scan beats building a map on every Run. The last of a duplicated name
// wins, as in a map built from the list (FuzzDescribe checks against one).
func declared(ps []Parameter, name string) (Parameter, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Name == name {
			return ps[i], true
		}
	}
	return Parameter{}, false
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
