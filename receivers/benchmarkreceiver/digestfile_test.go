package benchmarkreceiver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/plugins/plugintest"
)

// A digest in a file, as sha256sum writes it at build time, pins the
// plugin the same way as sha256 in the config.
func TestSHA256File(t *testing.T) {
	bin, sum := plugintest.Build(t, plugintest.Misbehave)
	file := filepath.Join(t.TempDir(), "misbehave.sha256")
	require.NoError(t, os.WriteFile(file, []byte(sum+"  misbehave\n"), 0o644))
	cfg := testConfig(map[string]PluginConfig{"m": {Path: bin, SHA256File: file}}, BenchmarkConfig{Plugin: "m", Name: "ok"})
	require.NoError(t, cfg.Validate())
	sink, _ := start(t, cfg)
	require.Eventually(t, func() bool { return len(points(sink, "acceltel.bench.test.value")) > 0 }, 30*time.Second, 20*time.Millisecond)
}

func TestSHA256FileRefusals(t *testing.T) {
	dir := t.TempDir()
	good := strings.Repeat("ab", 32)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode)) // past the umask
		return p
	}
	got, err := readDigestFile(write("ok", strings.ToUpper(good)+"  x\nrest\n", 0o600))
	require.NoError(t, err)
	assert.Equal(t, good, got)
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"missing":        {filepath.Join(dir, "nope"), "no such file"},
		"world-writable": {write("loose", good+"  x\n", 0o666), "writable by group or others"},
		"group-writable": {write("group", good+"  x\n", 0o620), "writable by group or others"},
		"empty":          {write("empty", "\n", 0o600), "is empty"},
		"not a digest":   {write("short", "abc  x\n", 0o600), "64-hex-digit"},
		"not hex":        {write("nothex", strings.Repeat("zz", 32)+"\n", 0o600), "64-hex-digit"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readDigestFile(tc.path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestSHA256FileConfig(t *testing.T) {
	both := testConfig(map[string]PluginConfig{"m": {Path: "/x", SHA256: strings.Repeat("ab", 32), SHA256File: "/x.sha256"}})
	assert.ErrorContains(t, both.Validate(), "set sha256 or sha256_file, not both")
	none := testConfig(map[string]PluginConfig{"m": {Path: "/x"}})
	assert.ErrorContains(t, none.Validate(), "or set sha256_file")
}
