// Package attribution says which container and pod a process or a cgroup
// belongs to, from the cgroup paths container runtimes and the kubelet create.
// The nvml, nccl and ebpf receivers share it.
package attribution // import "github.com/acceltel/acceltel/internal/attribution"

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Owner is what a process's cgroup says about who runs it; empty fields are unknown.
type Owner struct {
	ContainerID string
	PodUID      string
}

// ProcessOwner reads <root>/proc/<pid>/cgroup, root being the host
// filesystem root (hostmetrics' root_path: "/hostfs" in a DaemonSet). A process that is gone or not
// in a container is no error: it simply has no owner.
func ProcessOwner(root string, pid uint32) Owner {
	f, err := os.Open(filepath.Join(root, "proc", strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return Owner{}
	}
	defer func() { _ = f.Close() }() // read-only
	return parseProcCgroup(f)
}

// parseProcCgroup reads a /proc/<pid>/cgroup file: the first line whose path
// names a container wins; else the last that names a pod.
func parseProcCgroup(r io.Reader) Owner {
	var o Owner
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// hierarchy-ID:controllers:path; cgroup v2 has one line "0::/path".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if got := ParseCgroupPath(parts[2]); got.ContainerID != "" || got.PodUID != "" {
			o = got
			if o.ContainerID != "" {
				break
			}
		}
	}
	return o
}

// ParseCgroupPath understands the cgroupfs layout
// (/kubepods/burstable/pod<uid>/<id>) and the systemd one
// (kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope),
// CRI-O and Podman scopes (crio-<id>.scope, libpod-<id>.scope), and plain
// Docker (/docker/<id>, docker-<id>.scope).
func ParseCgroupPath(path string) Owner {
	var o Owner
	for _, seg := range strings.Split(path, "/") {
		seg = strings.TrimSuffix(strings.TrimSuffix(seg, ".scope"), ".slice")
		// "pod" cannot occur inside a UID (no 'o' in hex), so the last one
		// starts it in both layouts.
		if i := strings.LastIndex(seg, "pod"); i >= 0 {
			// Dashes (cgroupfs) or underscores (systemd), never a mix.
			raw := seg[i+3:]
			if uid := strings.ReplaceAll(raw, "_", "-"); isUID(uid) && (uid == raw || !strings.Contains(raw, "-")) {
				o.PodUID = uid
				continue
			}
		}
		id := seg
		if j := strings.LastIndexAny(seg, "-:"); j >= 0 {
			id = seg[j+1:]
		}
		if isContainerID(id) {
			o.ContainerID = id
		}
	}
	return o
}

func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
