package nvmlreceiver

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testCID = "3f1a9c0e5b7d4e2a8c6b0d9f1e3a5c7b9d0f2e4a6c8b0d1f3e5a7c9b1d3f5e7a"
	testPod = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
)

// writeProc makes a fixture /proc entry for pid under root.
func writeProc(t testing.TB, root string, pid int, cgroup string) {
	t.Helper()
	dir := filepath.Join(root, "proc", strconv.Itoa(pid))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644))
}
