package sdk_test

import (
	"context"
	"testing"

	"github.com/acceltel/acceltel/plugins/plugintest"
	"github.com/acceltel/acceltel/plugins/sdk"
)

// BenchmarkStart measures a plugin's start: checksum, exec, AutoMTLS
// handshake and the first RPC (Describe), then Kill.
func BenchmarkStart(b *testing.B) {
	bin, sum := plugintest.Build(b, plugintest.Misbehave)
	for b.Loop() {
		c, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Describe(context.Background()); err != nil {
			b.Fatal(err)
		}
		c.Kill()
	}
}

// BenchmarkRun measures the round trip of a one-measurement Run, which the
// plugin side checks against Describe first.
func BenchmarkRun(b *testing.B) {
	bin, sum := plugintest.Build(b, plugintest.Misbehave)
	c, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Kill()
	for b.Loop() {
		if err := c.Run(context.Background(), "ok", nil, func(sdk.Measurement) {}); err != nil {
			b.Fatal(err)
		}
	}
}
