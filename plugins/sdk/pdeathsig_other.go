//go:build !linux

package sdk

import "os/exec"

// setParentDeathSignal has no portable equivalent outside Linux; go-plugin's
// own cleanup on host exit is what remains there.
func setParentDeathSignal(*exec.Cmd) {}
