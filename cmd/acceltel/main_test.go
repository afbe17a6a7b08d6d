package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "acceltel dev (otelcol-acceltel 0.1.0")
}

// collectorConfigs lists the YAML files under distributions/ that are
// collector configs (those with a service section; k8s manifests are not).
func collectorConfigs(t *testing.T) []string {
	t.Helper()
	var configs []string
	err := filepath.WalkDir("../../distributions", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".yml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var top map[string]any
		if yaml.Unmarshal(data, &top) == nil && top["service"] != nil {
			configs = append(configs, p)
		}
		return nil
	})
	require.NoError(t, err)
	return configs
}

func TestDistributionConfigsAreValid(t *testing.T) {
	configs := collectorConfigs(t)
	require.NotEmpty(t, configs)
	// agent.yaml and gateway.yaml refuse to start without Kafka credentials.
	t.Setenv("ACCELTEL_KAFKA_USERNAME", "acceltel")
	t.Setenv("ACCELTEL_KAFKA_PASSWORD", "not-a-real-password")
	for _, c := range configs {
		t.Run(filepath.Base(c), func(t *testing.T) {
			code, out, errOut := runCLI(t, "validate", "--config", c)
			assert.Equal(t, 0, code, errOut)
			assert.Equal(t, "config is valid\n", out)
		})
	}
}

func TestValidateReportsEveryErrorWithPath(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`receivers:
  otlp:
    protocols:
      grcp:
        endpoint: 127.0.0.1:4317
  promethues:
processors:
  batch:
exporters:
  prometheus:
    endpoint: 127.0.0.1:8889
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheus]
`), 0o600))

	code, out, errOut := runCLI(t, "validate", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	require.Len(t, lines, 3, errOut)
	assert.Equal(t, cfg+":4:7: receivers::otlp::protocols::grcp: unknown key 'grcp'", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], cfg+`:6:3: receivers::promethues: unknown receiver type "promethues" (did you mean "prometheus"?)`), lines[1])
	assert.Equal(t, "2 problem(s)", lines[2])
}

func TestValidateNeedsConfig(t *testing.T) {
	code, _, errOut := runCLI(t, "validate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `required flag(s) "config" not set`)

	code, _, errOut = runCLI(t, "validate", "--config", "does-not-exist.yaml")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such file or directory")
}

func TestComponents(t *testing.T) {
	code, out, _ := runCLI(t, "components")
	assert.Equal(t, 0, code)
	for _, want := range []string{"receivers:", "otlp", "prometheus", "kafka", "deltatocumulative", "prometheusremotewrite", "file_storage", "health_check"} {
		assert.Contains(t, out, want)
	}
}
