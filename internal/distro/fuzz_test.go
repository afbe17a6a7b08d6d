package distro

import (
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"
)

// namedFactory is one factory of the distribution, named "kind/type".
type namedFactory struct {
	name    string
	factory configFactory
}

// configFactory is what component factories and the telemetry factory share.
type configFactory interface {
	CreateDefaultConfig() component.Config
}

// allFactories lists every factory of Components(), sorted by name, so the
// fuzzer's choice of component is stable while components are added.
func allFactories(tb testing.TB) []namedFactory {
	tb.Helper()
	f, err := Components()
	if err != nil {
		tb.Fatal(err)
	}
	var out []namedFactory
	add := func(kind string, typ component.Type, fac configFactory) {
		out = append(out, namedFactory{kind + "/" + typ.String(), fac})
	}
	for t, fac := range f.Receivers {
		add("receiver", t, fac)
	}
	for t, fac := range f.Processors {
		add("processor", t, fac)
	}
	for t, fac := range f.Exporters {
		add("exporter", t, fac)
	}
	for t, fac := range f.Extensions {
		add("extension", t, fac)
	}
	for t, fac := range f.Connectors {
		add("connector", t, fac)
	}
	if f.Telemetry != nil {
		out = append(out, namedFactory{"telemetry", f.Telemetry})
	}
	slices.SortFunc(out, func(a, b namedFactory) int { return strings.Compare(a.name, b.name) })
	return out
}

// pick returns the factory named name, or, for a name the fuzzer mutated
// into none, one chosen by its hash, so every input exercises some factory.
func pick(fs []namedFactory, name string) namedFactory {
	for _, f := range fs {
		if f.name == name {
			return f
		}
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fs[h.Sum32()%uint32(len(fs))]
}

// unmarshalAndValidate does what the collector does with one component's
// section of a config file: YAML → confmap → the factory's default config,
// then confmap.Validate (xconfmap.Validate before confmap v1.70).
func unmarshalAndValidate(fac configFactory, doc []byte) (unmarshalErr, validateErr error) {
	ret, err := confmap.NewRetrievedFromYAML(doc)
	if err != nil {
		return err, nil
	}
	conf, err := ret.AsConf()
	if err != nil {
		return err, nil
	}
	cfg := fac.CreateDefaultConfig()
	if err := conf.Unmarshal(&cfg); err != nil {
		return err, nil
	}
	return nil, confmap.Validate(cfg)
}

// seedSections adds every section of the acceltel components' testdata
// config files, under the kind/type that reads it.
func seedSections(f *testing.F, names map[string]bool) {
	root := filepath.Join("..", "..")
	for _, kind := range []string{"receiver", "processor", "exporter", "connector", "extension"} {
		files, _ := filepath.Glob(filepath.Join(root, kind+"s", "*", "testdata", "config.yaml"))
		for _, path := range files {
			raw, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			var sections map[string]yaml.Node
			if err := yaml.Unmarshal(raw, &sections); err != nil {
				continue // not a per-component file
			}
			for id, node := range sections {
				typ, _, _ := strings.Cut(id, "/")
				name := kind + "/" + typ
				if !names[name] {
					continue
				}
				doc, err := yaml.Marshal(&node)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(name, doc)
			}
		}
	}
}

// FuzzComponentConfig feeds YAML to every component of the distribution as
// the collector would: unmarshal into the default config, then Validate. No
// input may panic or hang either step, and a config that failed to
// unmarshal is never validated.
func FuzzComponentConfig(f *testing.F) {
	fs := allFactories(f)
	names := map[string]bool{}
	for _, nf := range fs {
		names[nf.name] = true
		// The default config, written out: every key each component knows.
		conf := confmap.New()
		if err := conf.Marshal(nf.factory.CreateDefaultConfig()); err == nil {
			if doc, err := yaml.Marshal(conf.ToStringMap()); err == nil {
				f.Add(nf.name, doc)
			}
		}
		f.Add(nf.name, []byte("{}"))
		f.Add(nf.name, []byte("unknown_key: 1\n"))
	}
	seedSections(f, names)
	f.Add("receiver/nccl", []byte("socket_path: [1, 2]\nprocess_ttl: -1s\n"))
	f.Add("processor/cost", []byte("prices:\n  - rates: {on_demand: .inf}\n    from: 2025-13-01\n"))
	f.Add("receiver/otlp", []byte("protocols:\n  grpc:\n    endpoint: ${env:NOPE}\n    max_recv_msg_size_mib: -1\n"))
	f.Add("exporter/kafka", []byte("brokers: &a [*a]\n"))
	f.Add("telemetry", []byte("metrics:\n  level: loud\n"))

	f.Fuzz(func(t *testing.T, name string, doc []byte) {
		nf := pick(fs, name)
		type result struct{ u, v error }
		done := make(chan result, 1)
		go func() {
			u, v := unmarshalAndValidate(nf.factory, doc)
			done <- result{u, v}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: unmarshal and validate did not finish in 10 s", nf.name)
		}
		for _, err := range []error{r.u, r.v} {
			if err != nil && strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("%s: an error without a message", nf.name)
			}
		}
		if r.u != nil && r.v != nil {
			t.Fatalf("%s: validated a config that did not unmarshal", nf.name)
		}
		if r.u == nil {
			// Validation is a pure function of the config: the same input
			// gives the same verdict.
			u2, v2 := unmarshalAndValidate(nf.factory, doc)
			if u2 != nil || (v2 == nil) != (r.v == nil) {
				t.Fatalf("%s: second run disagrees: unmarshal %v, validate %v then %v", nf.name, u2, r.v, v2)
			}
		}
	})
}
