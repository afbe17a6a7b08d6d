package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// config is a run's parameters, checked. The SDK has already checked their
// types; these are the limits a GPU run needs, checked before touching the
// driver so that a bad parameter is reported as such even without a GPU.
type config struct {
	devices    []int // nil: every device
	size       int64
	iterations int
	warmup     time.Duration
	m, n, k    int64
	dtypes     []gemmType
	workspace  int64
	cublaslt   string
}

const (
	maxIterations = 1_000_000
	maxWarmup     = time.Minute
	maxDim        = 1 << 20
)

func parseConfig(bench string, p sdk.Params) (config, error) {
	var cfg config
	var err error
	if cfg.devices, err = parseDevices(p["devices"]); err != nil {
		return cfg, err
	}
	cfg.iterations = int(p.Int("iterations"))
	if it := p.Int("iterations"); it < 1 || it > maxIterations {
		return cfg, fmt.Errorf("iterations must be between 1 and %d, got %d", maxIterations, it)
	}
	cfg.warmup = p.Duration("warmup")
	if cfg.warmup < 0 || cfg.warmup > maxWarmup {
		return cfg, fmt.Errorf("warmup must be between 0 and %s, got %s", maxWarmup, cfg.warmup)
	}
	switch bench {
	case "gpu.memory":
		cfg.size = p.Bytes("size")
		if cfg.size < 1<<20 || cfg.size%16 != 0 {
			return cfg, fmt.Errorf("size must be at least 1MiB and a multiple of 16 bytes, got %d", cfg.size)
		}
	case "gpu.transfer":
		cfg.size = p.Bytes("size")
		if cfg.size < 4096 {
			return cfg, fmt.Errorf("size must be at least 4096 bytes, got %d", cfg.size)
		}
	case "gpu.launch":
	case "gpu.gemm":
		cfg.m, cfg.n, cfg.k = p.Int("m"), p.Int("n"), p.Int("k")
		for _, d := range []struct {
			name string
			v    int64
		}{{"m", cfg.m}, {"n", cfg.n}, {"k", cfg.k}} {
			if d.v < 1 || d.v > maxDim {
				return cfg, fmt.Errorf("%s must be between 1 and %d, got %d", d.name, maxDim, d.v)
			}
		}
		if cfg.dtypes, err = parseDtypes(p["dtypes"]); err != nil {
			return cfg, err
		}
		for _, t := range cfg.dtypes {
			// cuBLASLt's FP8 kernels need 16-aligned dimensions.
			if t.name == "fp8" && (cfg.m%16 != 0 || cfg.n%16 != 0 || cfg.k%16 != 0) {
				return cfg, fmt.Errorf("fp8 needs m, n and k to be multiples of 16, got %dx%dx%d", cfg.m, cfg.n, cfg.k)
			}
		}
		cfg.workspace = p.Bytes("workspace")
		if cfg.workspace > 4<<30 {
			return cfg, fmt.Errorf("workspace must be at most 4GiB, got %d", cfg.workspace)
		}
		cfg.cublaslt = strings.TrimSpace(p["cublaslt"])
	default:
		return cfg, fmt.Errorf("unknown benchmark %q", bench)
	}
	return cfg, nil
}

func parseDevices(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "all" {
		return nil, nil
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || i < 0 {
			return nil, fmt.Errorf(`devices must be "all" or comma-separated device ordinals (0, 1, ...), got %q`, s)
		}
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out, nil
}

func parseDtypes(s string) ([]gemmType, error) {
	var out []gemmType
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		t, ok := findGemmType(f)
		if !ok {
			return nil, fmt.Errorf("dtypes: unknown type %q (known: %s)", f, strings.Join(gemmTypeNames(), ", "))
		}
		if !slices.ContainsFunc(out, func(o gemmType) bool { return o.name == t.name }) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dtypes: name at least one of %s", strings.Join(gemmTypeNames(), ", "))
	}
	return out, nil
}
