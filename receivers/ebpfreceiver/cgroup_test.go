package ebpfreceiver

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCgroupPath(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, path, container, pod string
	}{
		{"containerd systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-" + id + ".scope", id, "1b2c3d4e-0000-1111-2222-333344445555"},
		{"crio systemd", "/kubepods.slice/kubepods-pod1b2c3d4e_0000_1111_2222_333344445555.slice/crio-" + id + ".scope", id, "1b2c3d4e-0000-1111-2222-333344445555"},
		{"cgroupfs driver", "/kubepods/besteffort/pod1b2c3d4e-0000-1111-2222-333344445555/" + id, id, "1b2c3d4e-0000-1111-2222-333344445555"},
		{"pod slice itself", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_1111_2222_333344445555.slice", "", "1b2c3d4e-0000-1111-2222-333344445555"},
		{"docker systemd", "/system.slice/docker-" + id + ".scope", id, ""},
		{"docker cgroupfs", "/docker/" + id, id, ""},
		{"podman", "/machine.slice/libpod-" + id + ".scope", id, ""},
		{"systemd service", "/system.slice/sshd.service", "", ""},
		{"root", "/", "", ""},
		{"short hex is no container", "/docker/0123456789ab", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := parseCgroupPath(tt.path)
			assert.Equal(t, tt.container, c)
			assert.Equal(t, tt.pod, p)
		})
	}
}

func TestFindCgroup2(t *testing.T) {
	dir := t.TempDir()
	mounts := filepath.Join(dir, "mounts")
	require.NoError(t, os.WriteFile(mounts, []byte(
		"tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"), 0o600))
	assert.Equal(t, "/sys/fs/cgroup/unified", findCgroup2(mounts))
	assert.Empty(t, findCgroup2(filepath.Join(dir, "none")))
}

// The resolver keys by inode number; a plain directory tree stands in for cgroupfs.
func TestCgroupResolverInodes(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "kubepods", "pod1")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(sub, &st))
	r := newCgroupResolver(root)
	r.refresh()
	assert.Equal(t, "/kubepods/pod1", r.paths[st.Ino])
	require.NoError(t, syscall.Stat(root, &st))
	assert.Equal(t, "/", r.paths[st.Ino])
}
