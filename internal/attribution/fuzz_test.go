package attribution

import (
	"bytes"
	"strings"
	"testing"
)

func seedPaths(f *testing.F) {
	for _, p := range []string{
		"/kubepods/burstable/pod" + pod + "/" + cid,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podSlice + ".slice/cri-containerd-" + cid + ".scope",
		"/kubepods.slice/kubepods-pod" + podSlice + ".slice/crio-" + cid + ".scope",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podSlice + ".slice",
		"/system.slice/docker-" + cid + ".scope",
		"/docker/" + cid,
		"/machine.slice/libpod-" + cid + ".scope",
		"/system.slice/sshd.service",
		"/user.slice/user-1000.slice/session-3.scope",
		"/",
		"/docker/0123456789ab",
		"/kubepods/podpodpod/" + strings.ToUpper(cid),
		"/kubepods/pod" + pod + "x/" + cid + ":" + cid,
	} {
		f.Add(p)
	}
}

// FuzzParseCgroupPath: whatever the path, an id found is well formed (64
// lower-case hex digits, a canonical pod UID) and was in the path, and a
// trailing slash changes nothing.
func FuzzParseCgroupPath(f *testing.F) {
	seedPaths(f)
	f.Fuzz(func(t *testing.T, path string) {
		o := ParseCgroupPath(path)
		if o.ContainerID != "" && (!isContainerID(o.ContainerID) || !strings.Contains(path, o.ContainerID)) {
			t.Fatalf("container id %q from %q", o.ContainerID, path)
		}
		if o.PodUID != "" && (!isUID(o.PodUID) ||
			!strings.Contains(path, o.PodUID) && !strings.Contains(path, strings.ReplaceAll(o.PodUID, "-", "_"))) {
			t.Fatalf("pod uid %q from %q", o.PodUID, path)
		}
		if again := ParseCgroupPath(path + "/"); again != o {
			t.Fatalf("%q gives %+v, with a trailing slash %+v", path, o, again)
		}
		// What was found, written in the cgroupfs driver's layout, reads back.
		if o.ContainerID != "" && o.PodUID != "" {
			if again := ParseCgroupPath("/kubepods/burstable/pod" + o.PodUID + "/" + o.ContainerID); again != o {
				t.Fatalf("cgroupfs layout of %+v reads as %+v", o, again)
			}
		}
	})
}

// FuzzProcCgroup feeds parseProcCgroup a /proc/<pid>/cgroup file: the owner
// is that of one of its lines (the first naming a container, else the last
// naming a pod), or nobody when no line names either.
func FuzzProcCgroup(f *testing.F) {
	f.Add([]byte("12:memory:/kubepods/burstable/pod" + pod + "/" + cid + "\n11:cpu:/kubepods/burstable/pod" + pod + "/" + cid + "\n"))
	f.Add([]byte("0::/kubepods.slice/kubepods-pod" + podSlice + ".slice/cri-containerd-" + cid + ".scope\n"))
	f.Add([]byte("0::/init.scope\n"))
	f.Add([]byte("1:name=systemd:/kubepods.slice/kubepods-pod" + podSlice + ".slice\r\n0::/docker/" + cid))
	f.Add([]byte("garbage\n::\n0:a:b:c:/docker/" + cid + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, content []byte) {
		o := parseProcCgroup(bytes.NewReader(content))
		var lines []Owner
		withContainer := -1
		for l := range bytes.SplitSeq(content, []byte("\n")) {
			if len(l) >= 60000 {
				t.Skip("bufio.Scanner stops at 64 KiB lines; cgroup paths are at most 4 KiB")
			}
			l = bytes.TrimSuffix(l, []byte("\r"))
			parts := strings.SplitN(string(l), ":", 3)
			if len(parts) != 3 {
				continue
			}
			lo := ParseCgroupPath(parts[2])
			lines = append(lines, lo)
			if lo.ContainerID != "" && withContainer < 0 {
				withContainer = len(lines) - 1
			}
		}
		want := Owner{}
		if withContainer >= 0 {
			want = lines[withContainer]
		} else {
			for _, lo := range lines {
				if lo.PodUID != "" {
					want = lo
				}
			}
		}
		if o != want {
			t.Fatalf("got %+v, want %+v", o, want)
		}
	})
}
