package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"bufio"
	"io"
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
	return parseCgroup2Mount(f)
}

// parseCgroup2Mount reads a mounts file (/proc/<pid>/mounts, fstab format)
// and returns the mount point of the first cgroup2 file system, or "".
func parseCgroup2Mount(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// The kernel separates fields by one space and escapes space, tab,
		// newline and backslash inside them as \ooo (octal).
		fields := strings.Split(sc.Text(), " ")
		if len(fields) >= 3 && fields[2] == "cgroup2" && fields[1] != "" {
			return unescapeMount(fields[1])
		}
	}
	return ""
}

// unescapeMount undoes the kernel's \ooo escapes of a mounts field.
func unescapeMount(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

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
