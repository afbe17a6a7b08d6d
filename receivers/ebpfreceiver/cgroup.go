package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// findCgroup2 returns the cgroup2 mount point from a mounts file, or "".
func findCgroup2(mounts string) string {
	f, err := os.Open(mounts)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == "cgroup2" {
			return fields[1]
		}
	}
	return ""
}

// cgroupResolver maps a cgroup v2 id to its path. The id is the kernfs node
// id, which cgroupfs exposes as the inode number of the cgroup's directory.
type cgroupResolver struct {
	root  string // cgroup2 mount, "" when there is none
	paths map[uint64]string
}

func newCgroupResolver(root string) *cgroupResolver {
	return &cgroupResolver{root: root, paths: map[uint64]string{}}
}

// refresh walks the hierarchy again; cgroups come and go with containers.
func (r *cgroupResolver) refresh() {
	if r.root == "" {
		return
	}
	paths := make(map[uint64]string, len(r.paths))
	_ = filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			rel, _ := filepath.Rel(r.root, p)
			paths[st.Ino] = "/" + strings.TrimPrefix(filepath.ToSlash(rel), ".")
		}
		return nil
	})
	r.paths = paths
}
