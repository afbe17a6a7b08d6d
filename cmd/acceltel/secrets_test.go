package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A config with a credential in every place one goes, each next to a
// mistake that makes a component or the collector write an error about it.
// Validate must report the mistakes and print none of the credentials.
const secretsConfig = `extensions:
  bearertokenauth:
    token: "SECRET-TOKEN-0001"
    scheme: 17
    filename: /nonexistent/token
  oidc:
    issuer_url: "https://alice:SECRET-ISSUER-0002@[broken"
    audience: acceltel
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
        auth:
          authenticator: bearertokenauth
  kafka:
    brokers: ["127.0.0.1:9092"]
    auth:
      sasl:
        username: user
        password: "SECRET-SASL-0003"
        mechanism: SCRAM-SHA-999
exporters:
  otlp:
    endpoint: "bob:SECRET-URL-0004@host"
  otlphttp:
    endpoint: "http://bob:SECRET-URL-0004@%zz"
    traces_endpoint: "http://bob:SECRET-URL-0009@%zz"
    compression: "zstd-fast"
    headers:
      X-Api: "SECRET-HEADER-0005"
  prometheusremotewrite:
    endpoint: "https://carol:SECRET-RW-0006@rw.example/api/v1/write"
    headers:
      Authorization: "Bearer SECRET-RW-HEADER-0007"
    remote_write_queue:
      num_consumers: -3
  kafka:
    brokers: ["127.0.0.1:9092"]
    auth:
      sasl:
        username: user
        password: "SECRET-SASL-0008"
        mechanism: nope
service:
  extensions: [bearertokenauth, oidc]
  pipelines:
    metrics:
      receivers: [otlp, kafka]
      exporters: [otlp, otlphttp, prometheusremotewrite, kafka]
`

func TestValidateNeverPrintsSecrets(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "secrets.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(secretsConfig), 0o600))

	code, out, errOut := runCLI(t, "validate", "--config", cfg)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	// The mistakes are reported, at the components that hold the secrets ...
	for _, path := range []string{"extensions::bearertokenauth", "receivers::kafka", "exporters::otlphttp", "exporters::kafka"} {
		assert.Contains(t, errOut, path)
	}
	// ... and not one credential, nor a piece of one, is printed.
	assert.NotRegexp(t, regexp.MustCompile(`SECRET-[A-Z-]*\d{4}`), errOut)
	assert.Contains(t, errOut, "[REDACTED]", "a message that quoted a URL shows where its password was")
}
