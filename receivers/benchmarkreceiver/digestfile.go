package benchmarkreceiver // import "github.com/acceltel/acceltel/receivers/benchmarkreceiver"

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// readDigestFile returns the hex SHA-256 in a file written as sha256sum
// writes it ("<64 hex digits>  <name>", the first line counts). The file
// pins what binary runs with the collector's privileges, so it is refused
// when someone other than its owner may write it, or its owner is neither
// root nor the collector's user, as ssh refuses a loose authorized_keys.
func readDigestFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sha256_file: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("sha256_file: %w", err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("sha256_file %s is writable by group or others (mode %v): chmod go-w it", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("sha256_file %s is owned by uid %d, neither root nor the collector's user (%d)", path, st.Uid, os.Geteuid())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("sha256_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", fmt.Errorf("sha256_file %s is empty", path)
	}
	if d, err := hex.DecodeString(fields[0]); err != nil || len(d) != 32 {
		return "", fmt.Errorf("sha256_file %s does not start with a 64-hex-digit SHA-256", path)
	}
	return strings.ToLower(fields[0]), nil
}
