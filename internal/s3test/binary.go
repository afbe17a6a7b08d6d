package s3test // import "github.com/acceltel/acceltel/internal/s3test"

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	modulePath = "github.com/acceltel/acceltel"
	// BinaryEnv names a versitygw binary to use instead of bin/versitygw.
	BinaryEnv = "ACCELTEL_VERSITYGW"
	// toolsModFile pins the versitygw version; mainPackage is its command.
	toolsModFile = "internal/tools/versitygw/go.mod"
	mainPackage  = "github.com/versity/versitygw/cmd/versitygw"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// binary returns the versitygw binary, building it once per test process
// when it is missing.
func binary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() { binaryPath, binaryErr = findOrBuild(t) })
	if binaryErr != nil {
		t.Fatalf("s3test: %v", binaryErr)
	}
	return binaryPath
}

func findOrBuild(t testing.TB) (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(bin + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another test process may have built it while this one waited.
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	t.Logf("s3test: building %s (once, a few minutes)", bin)
	start := time.Now()
	// Built under a temporary name and renamed, so that test processes
	// building at the same time never run a half-written binary.
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-modfile="+toolsModFile, "-o", tmp, mainPackage)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("building versitygw (%s): %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	t.Logf("s3test: built %s in %s", bin, time.Since(start).Round(time.Second))
	return bin, nil
}

// moduleRoot walks up from the working directory (a package directory under
// go test) to this module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory; set %s", modulePath, BinaryEnv)
		}
		dir = parent
	}
}

func isModuleRoot(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}
