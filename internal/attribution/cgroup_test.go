package attribution

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	cid = "3f1a9c0e5b7d4e2a8c6b0d9f1e3a5c7b9d0f2e4a6c8b0d1f3e5a7c9b1d3f5e7a"
	pod = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
	// the same pod UID as systemd writes it into slice names
	podSlice = "1b4e28ba_2fa1_11d2_883f_0016d3cca427"
)

func TestParseCgroupPath(t *testing.T) {
	tests := []struct {
		name, path string
		want       Owner
	}{
		{"cgroupfs driver", "/kubepods/burstable/pod" + pod + "/" + cid, Owner{cid, pod}},
		{"containerd systemd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSlice + ".slice/cri-containerd-" + cid + ".scope", Owner{cid, pod}},
		{"crio systemd", "/kubepods.slice/kubepods-pod" + podSlice + ".slice/crio-" + cid + ".scope", Owner{cid, pod}},
		{"pod slice itself", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSlice + ".slice", Owner{PodUID: pod}},
		{"docker systemd", "/system.slice/docker-" + cid + ".scope", Owner{ContainerID: cid}},
		{"docker cgroupfs", "/docker/" + cid, Owner{ContainerID: cid}},
		{"podman", "/machine.slice/libpod-" + cid + ".scope", Owner{ContainerID: cid}},
		{"systemd service", "/system.slice/sshd.service", Owner{}},
		{"session", "/user.slice/user-1000.slice/session-3.scope", Owner{}},
		{"root", "/", Owner{}},
		{"short hex is no container", "/docker/0123456789ab", Owner{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ParseCgroupPath(tt.path))
		})
	}
}

func writeProc(t *testing.T, root string, pid int, cgroup string) {
	t.Helper()
	dir := filepath.Join(root, "proc", strconv.Itoa(pid))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644))
}

func TestProcessOwner(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 4242, "12:memory:/kubepods/burstable/pod"+pod+"/"+cid+"\n11:cpu:/kubepods/burstable/pod"+pod+"/"+cid+"\n")
	writeProc(t, root, 4343, "0::/kubepods.slice/kubepods-pod"+podSlice+".slice/cri-containerd-"+cid+".scope\n")
	writeProc(t, root, 7, "0::/init.scope\n")
	assert.Equal(t, Owner{cid, pod}, ProcessOwner(root, 4242), "cgroup v1")
	assert.Equal(t, Owner{cid, pod}, ProcessOwner(root, 4343), "cgroup v2")
	assert.Equal(t, Owner{}, ProcessOwner(root, 7))
	assert.Equal(t, Owner{}, ProcessOwner(root, 99999), "a process that is gone")
}
