package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/plugins/plugintest"
)

func TestBenchPrintsMeasurements(t *testing.T) {
	bin, sum := plugintest.Build(t, plugintest.Hostbench)
	code, out, errOut := runCLI(t, "bench", "--plugin", bin, "--sha256", sum, "--benchmark", "cpu.fma",
		"--param", "duration=20ms", "--param", "threads=2")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[0], "MEASUREMENT")
	assert.Contains(t, lines[1], "cpu.flops")
	assert.Contains(t, lines[1], "{flop}/s")
	assert.Contains(t, lines[2], "bench.threads=2")
	assert.Contains(t, lines[2], "%", "the all-core figure has an efficiency")

	code, out, errOut = runCLI(t, "bench", "--plugin", bin, "--benchmark", "memory.stream", "--json",
		"--param", "size=1MiB", "--param", "duration=10ms", "--param", "threads=1")
	require.Equal(t, 0, code, errOut)
	var ms []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &ms))
	require.Len(t, ms, 4)
	assert.Equal(t, "By/s", ms[0]["unit"])

	code, out, _ = runCLI(t, "bench", "--plugin", bin)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "memory.stream:")
	assert.Contains(t, out, "--param size=64MiB")
}

func TestBenchRefuses(t *testing.T) {
	bin, _ := plugintest.Build(t, plugintest.Misbehave)
	code, _, errOut := runCLI(t, "bench", "--plugin", bin, "--sha256", strings.Repeat("0", 64), "--benchmark", "ok")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "plugin checksum mismatch")

	code, _, errOut = runCLI(t, "bench", "--plugin", bin, "--benchmark", "ok", "--param", "value=high")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "parameter value")

	code, _, errOut = runCLI(t, "bench", "--plugin", bin, "--benchmark", "hang", "--timeout", "200ms")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no result within 200ms")

	code, _, errOut = runCLI(t, "bench")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--plugin is required")
}
