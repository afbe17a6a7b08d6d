package distro

import (
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"
)

type module struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

type manifest struct {
	Dist struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Version     string `yaml:"version"`
	} `yaml:"dist"`
	Receivers  []module `yaml:"receivers"`
	Processors []module `yaml:"processors"`
	Exporters  []module `yaml:"exporters"`
	Connectors []module `yaml:"connectors"`
	Extensions []module `yaml:"extensions"`
	Providers  []module `yaml:"providers"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	data, err := os.ReadFile("../../builder-config.yaml")
	require.NoError(t, err)
	var m manifest
	require.NoError(t, yaml.Unmarshal(data, &m))
	return m
}

// gomods is the set of modules the manifest names; several of our
// components come from the one module of this repository.
func gomods(ms []module) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.GoMod
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func values(m map[component.Type]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func distinct[F comparable](factories map[component.Type]F) int {
	seen := map[F]bool{}
	for _, f := range factories {
		seen[f] = true
	}
	return len(seen)
}

// TestComponentsMatchManifest fails when builder-config.yaml changed and
// `make generate` was not run, so the CLI cannot drift from the collector.
func TestComponentsMatchManifest(t *testing.T) {
	m := readManifest(t)
	f, err := Components()
	require.NoError(t, err)
	// One factory per manifest entry (deprecated aliases share theirs), and the same modules.
	assert.Equal(t, len(m.Receivers), distinct(f.Receivers), "receivers")
	assert.Equal(t, len(m.Processors), distinct(f.Processors), "processors")
	assert.Equal(t, len(m.Exporters), distinct(f.Exporters), "exporters")
	assert.Equal(t, len(m.Connectors), distinct(f.Connectors), "connectors")
	assert.Equal(t, len(m.Extensions), distinct(f.Extensions), "extensions")
	assert.Equal(t, gomods(m.Receivers), values(f.ReceiverModules), "receivers")
	assert.Equal(t, gomods(m.Processors), values(f.ProcessorModules), "processors")
	assert.Equal(t, gomods(m.Exporters), values(f.ExporterModules), "exporters")
	assert.Equal(t, gomods(m.Connectors), values(f.ConnectorModules), "connectors")
	assert.Equal(t, gomods(m.Extensions), values(f.ExtensionModules), "extensions")
}

func TestProvidersMatchManifest(t *testing.T) {
	m := readManifest(t)
	var want []string
	for _, p := range m.Providers {
		pkg := path.Base(strings.Fields(p.GoMod)[0])
		want = append(want, strings.TrimSuffix(pkg, "provider"))
	}
	var got []string
	for _, f := range ProviderFactories() {
		got = append(got, f.Create(confmap.ProviderSettings{Logger: zap.NewNop()}).Scheme())
	}
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got)
}

func TestBuildInfoMatchesManifest(t *testing.T) {
	m := readManifest(t)
	assert.Equal(t, m.Dist.Name, Command)
	assert.Equal(t, m.Dist.Description, Description)
	assert.Equal(t, m.Dist.Version, Version)
}
