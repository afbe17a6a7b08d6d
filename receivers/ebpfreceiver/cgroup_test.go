package ebpfreceiver

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
