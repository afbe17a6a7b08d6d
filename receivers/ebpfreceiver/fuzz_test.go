package ebpfreceiver

import (
	"fmt"
	"strings"
	"testing"
)

// mangle escapes a path as the kernel writes it into /proc/<pid>/mounts
// (fs/proc_namespace.c: mangle() = seq_escape(m, s, " \t\n\\")): those four
// bytes become a backslash and three octal digits.
func mangle(s string) string {
	var b strings.Builder
	for i := range len(s) {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzCgroup2Mount feeds parseCgroup2Mount a mount table: any content is
// read without panicking, and a cgroup2 mount point, however named, comes
// back as the path the kernel escaped, after the mounts listed before it.
func FuzzCgroup2Mount(f *testing.F) {
	const table = "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n" +
		"proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n" +
		"tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n" +
		"cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n"
	f.Add(table, "/sys/fs/cgroup/unified")
	f.Add(table, "/sys/fs/cgroup")
	f.Add("", "/hostfs/sys/fs/cgroup")
	f.Add("overlay / overlay rw,lowerdir=/a:/b 0 0\n", "/run/my cgroup\\dir\t")
	f.Add("cgroup2 /first cgroup2 rw 0 0\n", "/second")
	f.Add("\n\n   \n", "/x")
	f.Fuzz(func(t *testing.T, before, mountPoint string) {
		if len(before) >= 60000 || len(mountPoint) >= 4096 {
			t.Skip("bufio.Scanner stops at 64 KiB lines; paths are at most 4 KiB")
		}
		first := parseCgroup2Mount(strings.NewReader(before))
		if first != "" && !strings.Contains(before, "cgroup2") {
			t.Fatalf("%q without any cgroup2 mount gives %q", before, first)
		}
		if mountPoint == "" || strings.ContainsRune(mountPoint, 0) {
			return // the kernel writes neither
		}
		if before != "" && !strings.HasSuffix(before, "\n") {
			before += "\n"
		}
		got := parseCgroup2Mount(strings.NewReader(before + "cgroup2 " + mangle(mountPoint) + " cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"))
		want := first
		if want == "" {
			want = mountPoint
		}
		if got != want {
			t.Fatalf("mount point %q (written %q) read as %q, want %q", mountPoint, mangle(mountPoint), got, want)
		}
	})
}
