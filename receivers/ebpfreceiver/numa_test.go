package ebpfreceiver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []uint32
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "0", want: []uint32{0}},
		{in: "0-3", want: []uint32{0, 1, 2, 3}},
		{in: "0-1,8,10-11", want: []uint32{0, 1, 8, 10, 11}},
		{in: "3-1", wantErr: true},
		{in: "a-b", wantErr: true},
		{in: "0,", wantErr: true},
		{in: "8191", want: []uint32{8191}},
		{in: "0-8192", wantErr: true},
	} {
		got, err := parseCPUList(tc.in)
		if tc.wantErr {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

// TestCPUNodes reads a two-node sysfs layout as a dual-socket host has it
// (node1 with interleaved CPUs, a memory-only node2 with none), and a host
// without NUMA (no node directory).
func TestCPUNodes(t *testing.T) {
	dir := t.TempDir()
	for node, list := range map[string]string{"node0": "0-3,8-11\n", "node1": "4-7,12-15\n", "node2": "\n"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, node), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, node, "cpulist"), []byte(list), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "possible"), []byte("0-2\n"), 0o644))
	got, err := cpuNodes(dir)
	require.NoError(t, err)
	assert.Len(t, got, 16)
	assert.Equal(t, uint32(0), got[9])
	assert.Equal(t, uint32(1), got[4])
	assert.Equal(t, uint32(1), got[15])

	got, err = cpuNodes(filepath.Join(dir, "absent"))
	require.NoError(t, err)
	assert.Empty(t, got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "node1", "cpulist"), []byte("4-x\n"), 0o644))
	_, err = cpuNodes(dir)
	assert.ErrorContains(t, err, "node1/cpulist")
}
