package nvmlreceiver

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testCID = "3f1a9c0e5b7d4e2a8c6b0d9f1e3a5c7b9d0f2e4a6c8b0d1f3e5a7c9b1d3f5e7a"
	testPod = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
)

func TestParseCgroupPath(t *testing.T) {
	tests := map[string]owner{
		"/kubepods/burstable/pod" + testPod + "/" + testCID: {containerID: testCID, podUID: testPod},
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice/cri-containerd-" + testCID + ".scope": {containerID: testCID, podUID: testPod},
		"/system.slice/docker-" + testCID + ".scope":  {containerID: testCID},
		"/user.slice/user-1000.slice/session-3.scope": {},
		"/": {},
	}
	for path, want := range tests {
		assert.Equal(t, want, parseCgroupPath(path), path)
	}
}

// writeProc makes a fixture /proc entry for pid under root.
func writeProc(t testing.TB, root string, pid int, cgroup string) {
	t.Helper()
	dir := filepath.Join(root, "proc", strconv.Itoa(pid))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644))
}

func TestReadOwner(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 4242, "12:memory:/kubepods/burstable/pod"+testPod+"/"+testCID+"\n11:cpu:/kubepods/burstable/pod"+testPod+"/"+testCID+"\n")
	writeProc(t, root, 7, "0::/init.scope\n")
	assert.Equal(t, owner{containerID: testCID, podUID: testPod}, readOwner(root, 4242))
	assert.Equal(t, owner{}, readOwner(root, 7))
	assert.Equal(t, owner{}, readOwner(root, 99999), "a process that is gone")
}
