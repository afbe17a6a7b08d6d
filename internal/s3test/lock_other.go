//go:build !unix

package s3test // import "github.com/acceltel/acceltel/internal/s3test"

// lockFile does not lock where flock is missing; concurrent builds then
// each build, and the renames keep the binary whole.
func lockFile(string) (func(), error) { return func() {}, nil }
