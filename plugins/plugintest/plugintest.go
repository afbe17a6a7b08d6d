// Package plugintest builds plugin binaries for tests, so every test runs a
// real plugin process through the real handshake.
package plugintest

import (
	"os/exec"
	"path"
	"path/filepath"
	"testing"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// Build compiles the main package pkg (an import path) into a temporary
// directory and returns the binary's path and its hex SHA-256.
func Build(t testing.TB, pkg string) (bin, sum string) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), path.Base(pkg))
	out, err := exec.Command("go", "build", "-trimpath", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	sum, err = sdk.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	return bin, sum
}

// Package paths of the plugins the tests build.
const (
	Hostbench = "github.com/acceltel/acceltel/plugins/hostbench"
	Misbehave = "github.com/acceltel/acceltel/plugins/internal/testplugins/misbehave"
	// Bare is a go-plugin plugin without the SDK (the health service as
	// its RPC): the baseline of the SDK's overhead benchmarks.
	Bare = "github.com/acceltel/acceltel/plugins/internal/testplugins/bare"
)
