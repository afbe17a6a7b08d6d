package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

// A copy of the nvml receiver's cgroup reader: the shared internal/ home the
// design names for pid→cgroup→pod attribution does not exist yet, and this
// change may only touch the nccl directories. Move both there together.

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// owner is what a process's cgroup says about who runs it.
type owner struct {
	containerID string
	podUID      string
}

// readOwner reads <root>/proc/<pid>/cgroup. A process that is gone or not
// in a container is no error: it simply has no owner.
func readOwner(root string, pid uint32) owner {
	f, err := os.Open(filepath.Join(root, "proc", strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return owner{}
	}
	defer func() { _ = f.Close() }() // read-only
	var o owner
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path; cgroup v2 has one line "0::/path".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if got := parseCgroupPath(parts[2]); got.containerID != "" || got.podUID != "" {
			o = got
			if o.containerID != "" {
				break
			}
		}
	}
	return o
}

// parseCgroupPath understands the cgroupfs layout
// (/kubepods/burstable/pod<uid>/<id>) and the systemd one
// (kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope),
// and plain Docker (/docker/<id>, docker-<id>.scope).
func parseCgroupPath(path string) owner {
	var o owner
	for _, seg := range strings.Split(path, "/") {
		seg = strings.TrimSuffix(strings.TrimSuffix(seg, ".scope"), ".slice")
		// "pod" cannot occur inside a UID (no 'o' in hex), so the last one
		// starts it in both layouts.
		if i := strings.LastIndex(seg, "pod"); i >= 0 {
			if uid := strings.ReplaceAll(seg[i+3:], "_", "-"); isUID(uid) {
				o.podUID = uid
				continue
			}
		}
		id := seg
		if j := strings.LastIndexAny(seg, "-:"); j >= 0 {
			id = seg[j+1:]
		}
		if isContainerID(id) {
			o.containerID = id
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
