package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

type componentList struct {
	Receivers  []map[string]any `yaml:"receivers"`
	Processors []map[string]any `yaml:"processors"`
	Exporters  []map[string]any `yaml:"exporters"`
	Connectors []map[string]any `yaml:"connectors"`
	Extensions []map[string]any `yaml:"extensions"`
}

func components(t *testing.T, bin string) componentList {
	t.Helper()
	out, err := exec.Command(bin, "components").Output()
	require.NoError(t, err, bin)
	var l componentList
	require.NoError(t, yaml.Unmarshal(out, &l))
	require.NotEmpty(t, l.Receivers)
	return l
}

// TestCLIMatchesCollector: acceltel checks configs against exactly the
// components the collector binary was built with.
func TestCLIMatchesCollector(t *testing.T) {
	collector := CollectorBinary(t)
	cli := filepath.Join(filepath.Dir(collector), "acceltel")
	assert.Equal(t, components(t, collector), components(t, cli))
}

// TestShippedConfigsValidate runs the built acceltel on every collector
// config under distributions/, and on a broken one.
func TestShippedConfigsValidate(t *testing.T) {
	cli := filepath.Join(filepath.Dir(CollectorBinary(t)), "acceltel")
	configs, err := filepath.Glob(filepath.Join(RepoRoot(t), "distributions", "*", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, configs)
	for _, c := range configs {
		cmd := exec.Command(cli, "validate", "--config", c)
		cmd.Env = append(os.Environ(), KafkaEnv(t)...) // agent and gateway need Kafka credentials
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: %s", c, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n        max_recv_msg_size_mibb: 4\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n"), 0o600))
	out, err := exec.Command(cli, "validate", "--config", bad).CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), bad+":6:9: receivers::otlp::protocols::grpc::max_recv_msg_size_mibb: unknown key 'max_recv_msg_size_mibb'")
}
