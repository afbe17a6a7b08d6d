package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/deploytest"
)

// TestManifestCommandLinesValidate runs the built `acceltel validate` on the
// command line of every collector container in the Kubernetes manifests
// (distributions/otelcol-acceltel, as kustomize builds them): its --config
// arguments in order (the ConfigMap file and the yaml: overrides), with the
// file's content from its ConfigMap and only the environment the kubelet
// would give the container, so an override, a variable the config needs, or
// a value the manifest sets (an endpoint, a path) that the collector would
// reject fails here rather than in a crash-looping pod.
func TestManifestCommandLinesValidate(t *testing.T) {
	cli := filepath.Join(filepath.Dir(CollectorBinary(t)), "acceltel")
	dist := filepath.Join(RepoRoot(t), "distributions", "otelcol-acceltel")
	collectors := deploytest.Collectors(deploytest.BuildAll(t, dist)...)
	require.Len(t, collectors, 3, "the agent, the gateway and the Job's sidecar")
	for name, c := range collectors {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			files := c.ConfigFiles(t)
			args := []string{"validate"}
			for _, a := range c.Container.Args {
				uri, ok := strings.CutPrefix(a, "--config=")
				require.True(t, ok, "%s: argument %q is not --config", name, a)
				if data, isFile := files[uri]; isFile {
					uri = filepath.Join(dir, filepath.Base(uri))
					require.NoError(t, os.WriteFile(uri, []byte(data), 0o600))
				}
				args = append(args, "--config", uri)
			}
			cmd := exec.Command(cli, args...)
			for k, v := range c.Env(t) {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s: acceltel %s\n%s", name, strings.Join(args, " "), out)
		})
	}
}
