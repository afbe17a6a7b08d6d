//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// directAlign is the buffer and offset alignment O_DIRECT needs: the
// logical block size of any current device divides it.
const directAlign = 4096

// alignedBuffer returns n bytes starting at a multiple of directAlign.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n]
}

// runStorage writes a file of size bytes under dir in block-sized
// sequential writes, then reads it back, and reports both rates. With
// direct the page cache is bypassed (O_DIRECT), so the figures are the
// device's, not memory's; the write includes the final fsync either way.
func runStorage(ctx context.Context, dir string, size, block int64, direct bool, emit func(sdk.Measurement) error) error {
	if block < directAlign || block%directAlign != 0 {
		return fmt.Errorf("block must be a multiple of %d bytes, got %d", directAlign, block)
	}
	if size < block {
		return fmt.Errorf("size %d B is smaller than one block (%d B)", size, block)
	}
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, ".hostbench-storage-*")
	if err != nil {
		return fmt.Errorf("creating the test file: %w", err)
	}
	path := f.Name()
	_ = f.Close()
	defer func() { _ = os.Remove(path) }()

	n := size / block
	buf := alignedBuffer(int(block))
	for i := range buf {
		buf[i] = byte(i*7 + 1) // not zeros: some devices and file systems shortcut them
	}
	flags := 0
	if direct {
		flags = syscall.O_DIRECT
	}
	attrs := map[string]string{"storage.path": filepath.Clean(dir), "storage.direct": fmt.Sprint(direct)}

	w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|flags, 0o600)
	if err != nil {
		return openError(dir, direct, err)
	}
	start := time.Now()
	for i := int64(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			_ = w.Close()
			return err
		}
		if _, err := w.Write(buf); err != nil {
			_ = w.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := w.Sync(); err != nil {
		_ = w.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	wrote := time.Since(start)
	if err := w.Close(); err != nil {
		return err
	}
	total := float64(n * block)
	if err := emit(sdk.Measurement{Name: "storage.bandwidth", Unit: "By/s", Value: total / wrote.Seconds(), Duration: wrote,
		Attributes: with(attrs, "storage.operation", "write")}); err != nil {
		return err
	}

	r, err := os.OpenFile(path, os.O_RDONLY|flags, 0)
	if err != nil {
		return openError(dir, direct, err)
	}
	defer func() { _ = r.Close() }()
	if !direct {
		// Without O_DIRECT the file is still in the page cache: say so
		// to the kernel, so the read is from the device where it can be.
		_ = fadviseDontNeed(r)
	}
	start = time.Now()
	for i := int64(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := r.Read(buf); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	read := time.Since(start)
	return emit(sdk.Measurement{Name: "storage.bandwidth", Unit: "By/s", Value: total / read.Seconds(), Duration: read,
		Attributes: with(attrs, "storage.operation", "read")})
}

func openError(dir string, direct bool, err error) error {
	if direct && errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("the file system of %s does not support O_DIRECT (tmpfs, some overlays): "+
			"choose a path on the device to measure, or set direct=false to go through the page cache", dir)
	}
	return fmt.Errorf("opening the test file in %s: %w", dir, err)
}

func with(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// fadviseDontNeed drops the file's pages from the page cache (written
// pages only once they are clean, which the caller's fsync made them).
func fadviseDontNeed(f *os.File) error {
	const posixFadvDontneed = 4
	_, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, posixFadvDontneed, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
