package otelcolacceltel_test

// The Kubernetes manifests, as kustomize builds them (internal/deploytest):
// they decode strictly into the k8s.io/api types, the node agent has
// exactly the privileges DEPLOY.md explains, every collector mounts the
// shipped config file unchanged and is given only variables its config
// reads; and the systemd unit matches the DaemonSet. That each collector's
// command line is a config the distribution accepts is checked by the
// testbed with the built CLI (testbed/manifests_test.go).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/acceltel/acceltel/internal/deploytest"
)

// The node agent's capabilities, the same in the DaemonSet and the systemd
// unit (DEPLOY.md says why each).
var agentCapabilities = []string{"BPF", "PERFMON", "SYS_RESOURCE", "DAC_READ_SEARCH"}

func buildCluster(t *testing.T) deploytest.Objects {
	return deploytest.Build(t, deploytest.ClusterDir, types.LoadRestrictionsRootOnly)
}

func buildJobExample(t *testing.T) deploytest.Objects {
	return deploytest.Build(t, deploytest.JobExampleDir, types.LoadRestrictionsNone)
}

func TestManifestsDecodeStrictly(t *testing.T) {
	cluster := buildCluster(t)
	sort.Strings(cluster.Kinds)
	assert.Equal(t, []string{
		"ConfigMap", "ConfigMap", "ConfigMap", "ConfigMap", "ConfigMap", "DaemonSet", "Deployment",
		"HorizontalPodAutoscaler", "Namespace", "PodDisruptionBudget", "Service", "Service",
		"ServiceAccount", "ServiceAccount",
	}, cluster.Kinds)
	for _, sa := range cluster.ServiceAccounts {
		require.NotNil(t, sa.AutomountServiceAccountToken, sa.Name)
		assert.False(t, *sa.AutomountServiceAccountToken, "%s: no API access, no token", sa.Name)
	}

	job := buildJobExample(t)
	sort.Strings(job.Kinds)
	assert.Equal(t, []string{"ConfigMap", "ConfigMap", "Job"}, job.Kinds)

	// The strict decoder rejects what it must: a field the type lacks, one
	// in the wrong case, a duplicate key.
	for _, field := range []string{"hostPIDs: true", "hostPid: true", "hostPID: true\n      hostPID: true"} {
		bad := []byte("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      " + field + "\n")
		require.Error(t, deploytest.DecodeStrict(bad, &appsv1.DaemonSet{}), field)
	}
	require.NoError(t, deploytest.DecodeStrict([]byte("apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostPID: true\n"), &appsv1.DaemonSet{}))
}

// TestDefaultLoadRestrictorSuffices: `kubectl apply -k` (which has no
// --load-restrictor flag) works on the cluster entry point, and the Job
// example says truthfully that it needs the flag.
func TestDefaultLoadRestrictorSuffices(t *testing.T) {
	abs, err := filepath.Abs("k8s/examples/training-job")
	require.NoError(t, err)
	_, err = krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	require.ErrorContains(t, err, "security; file")
	b, err := os.ReadFile("k8s/examples/training-job/kustomization.yaml")
	require.NoError(t, err)
	require.Contains(t, string(b), "--load-restrictor=LoadRestrictionsNone")
}

func agentDaemonSet(t *testing.T, o deploytest.Objects) (*appsv1.DaemonSet, corev1.Container) {
	t.Helper()
	require.Len(t, o.DaemonSets, 1)
	ds := o.DaemonSets[0]
	require.Equal(t, "acceltel-agent", ds.Name)
	require.Len(t, ds.Spec.Template.Spec.Containers, 1)
	return ds, ds.Spec.Template.Spec.Containers[0]
}

func TestAgentSecurity(t *testing.T) {
	ds, c := agentDaemonSet(t, buildCluster(t))
	pod := ds.Spec.Template.Spec

	assert.True(t, pod.HostPID, "hostPID: NCCL senders' and GPU processes' pids are the host's")
	assert.False(t, pod.HostNetwork)
	assert.Equal(t, "acceltel-agent", pod.ServiceAccountName)
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken)

	sc := c.SecurityContext
	require.NotNil(t, sc)
	require.NotNil(t, sc.Privileged)
	assert.False(t, *sc.Privileged, "privileged")
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	var add []string
	for _, c := range sc.Capabilities.Add {
		add = append(add, string(c))
	}
	assert.ElementsMatch(t, agentCapabilities, add, "exactly BPF, PERFMON, SYS_RESOURCE, DAC_READ_SEARCH")
	require.NotNil(t, sc.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)

	// The host paths: read-only except the NCCL socket directory and the
	// persistent queue, each where the config expects it.
	hostPaths := map[string]string{} // volume -> host path
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounts := map[string]corev1.VolumeMount{} // host path -> mount
	for _, m := range c.VolumeMounts {
		if p, ok := hostPaths[m.Name]; ok {
			mounts[p] = m
		}
	}
	want := map[string]struct {
		at       string
		readOnly bool
	}{
		"/proc":                          {"/hostfs/proc", true},
		"/sys":                           {"/hostfs/sys", true},
		"/var/lib/kubelet/pod-resources": {"/var/lib/kubelet/pod-resources", true},
		"/run/acceltel":                  {"/run/acceltel", false},
		"/var/lib/otelcol-acceltel":      {"/var/lib/otelcol-acceltel", false},
	}
	require.Len(t, mounts, len(want), "host paths mounted: %v", mounts)
	for host, w := range want {
		m, ok := mounts[host]
		require.True(t, ok, "host path %s is not mounted", host)
		assert.Equal(t, w.at, m.MountPath, host)
		assert.Equal(t, w.readOnly, m.ReadOnly, "%s read-only", host)
	}
	sock, ok := deploytest.EnvVar(c, "ACCELTEL_NCCL_SOCKET")
	require.True(t, ok)
	assert.Equal(t, "/run/acceltel", filepath.Dir(sock.Value), "the NCCL socket is in the hostPath jobs share")
	store, ok := deploytest.EnvVar(c, "ACCELTEL_STORAGE_DIR")
	require.True(t, ok)
	assert.Equal(t, "/var/lib/otelcol-acceltel", store.Value)
	// The receivers read the host's /proc and /sys under /hostfs.
	for _, r := range []string{"nvml", "nccl", "ebpf", "infiniband"} {
		assert.Contains(t, c.Args, "--config=yaml:receivers::"+r+"::root_path: /hostfs")
	}

	// GPUs: every GPU of the node through the NVIDIA runtime, none taken
	// from the device plugin, and no runtimeClassName by default (the
	// nvidia-runtimeclass component adds it; TestSiteOverlay).
	gpus, ok := deploytest.EnvVar(c, "NVIDIA_VISIBLE_DEVICES")
	require.True(t, ok)
	assert.Equal(t, "all", gpus.Value)
	caps, ok := deploytest.EnvVar(c, "NVIDIA_DRIVER_CAPABILITIES")
	require.True(t, ok)
	assert.Equal(t, "utility", caps.Value)
	assert.Nil(t, pod.RuntimeClassName)
	_, requestsGPU := c.Resources.Limits["nvidia.com/gpu"]
	assert.False(t, requestsGPU, "the agent must not take GPUs from jobs")

	node, ok := deploytest.EnvVar(c, "K8S_NODE_NAME")
	require.True(t, ok)
	require.NotNil(t, node.ValueFrom)
	require.NotNil(t, node.ValueFrom.FieldRef)
	assert.Equal(t, "spec.nodeName", node.ValueFrom.FieldRef.FieldPath)

	assert.Contains(t, pod.Tolerations, corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})

	checkProbesOnHealthCheck(t, c)
	checkResourcesAndGoMemLimit(t, c)
}

// checkProbesOnHealthCheck: liveness and readiness go to the health_check
// extension, which listens where ACCELTEL_HEALTH_ENDPOINT says (13133).
func checkProbesOnHealthCheck(t *testing.T, c corev1.Container) {
	t.Helper()
	health, ok := deploytest.EnvVar(c, "ACCELTEL_HEALTH_ENDPOINT")
	require.True(t, ok, "%s: ACCELTEL_HEALTH_ENDPOINT", c.Name)
	assert.Equal(t, ":13133", health.Value, "%s: on the pod's address, where the kubelet probes", c.Name)
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		require.NotNil(t, p, "%s: %s probe", c.Name, name)
		require.NotNil(t, p.HTTPGet, "%s: %s probe", c.Name, name)
		assert.Equal(t, "/", p.HTTPGet.Path)
		port := p.HTTPGet.Port.IntValue()
		if p.HTTPGet.Port.StrVal != "" {
			for _, cp := range c.Ports {
				if cp.Name == p.HTTPGet.Port.StrVal {
					port = int(cp.ContainerPort)
				}
			}
		}
		assert.Equal(t, 13133, port, "%s: %s probe port", c.Name, name)
	}
}

// checkResourcesAndGoMemLimit: requests and limits are set, and GOMEMLIMIT
// is 80% of the memory limit (the documented ratio; GOMEMLIMIT cannot be
// computed from resourceFieldRef, which only divides by powers of ten or
// two).
func checkResourcesAndGoMemLimit(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		assert.Contains(t, c.Resources.Requests, r, "%s: requests.%s", c.Name, r)
		assert.Contains(t, c.Resources.Limits, r, "%s: limits.%s", c.Name, r)
	}
	limit := c.Resources.Limits[corev1.ResourceMemory]
	gml, ok := deploytest.EnvVar(c, "GOMEMLIMIT")
	require.True(t, ok, "%s: GOMEMLIMIT", c.Name)
	mib, ok := strings.CutSuffix(gml.Value, "MiB")
	require.True(t, ok, "%s: GOMEMLIMIT in MiB: %s", c.Name, gml.Value)
	got := resource.MustParse(mib + "Mi")
	assert.Equal(t, limit.Value()*8/10/(1<<20), got.Value()/(1<<20), "%s: GOMEMLIMIT %s is not 80%% of limits.memory %s", c.Name, gml.Value, limit.String())
}

// allCollectors are the agent, the gateway and the Job's sidecar.
func allCollectors(t *testing.T) map[string]deploytest.Collector {
	t.Helper()
	out := deploytest.Collectors(buildCluster(t), buildJobExample(t))
	require.Len(t, out, 3, "the agent, the gateway and the Job's sidecar")
	return out
}

// TestConfigMapsHoldTheShippedConfigs: what each collector reads is the
// file next to this test, byte for byte, under a generated (hashed) name.
func TestConfigMapsHoldTheShippedConfigs(t *testing.T) {
	want := map[string]string{
		"DaemonSet/acceltel-agent/otelcol":    "agent.yaml",
		"Deployment/acceltel-gateway/otelcol": "gateway.yaml",
		"Job/nccl-allreduce-example/acceltel": "sidecar.yaml",
	}
	for name, w := range allCollectors(t) {
		files := w.ConfigFiles(t)
		require.Len(t, files, 1, name)
		for path, data := range files {
			assert.Equal(t, want[name], filepath.Base(path), name)
			shipped, err := os.ReadFile(filepath.Base(path))
			require.NoError(t, err)
			assert.Equal(t, string(shipped), data, "%s: %s differs from the shipped file", name, path)
		}
		for _, v := range w.Pod.Volumes {
			if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, "acceltel-") {
				assert.Regexp(t, `^acceltel-[a-z]+-config-[a-z0-9]{10}$`, v.ConfigMap.Name, "%s: a generated name, so a changed config rolls out", name)
			}
		}
	}
}

// TestEnvironmentReachesTheConfig: every ACCELTEL_* variable a manifest
// sets is read by the config its collector runs; one the config does not
// name (a typo, or a config that renamed it) would be silently ignored.
func TestEnvironmentReachesTheConfig(t *testing.T) {
	for name, w := range allCollectors(t) {
		var configs strings.Builder
		for _, data := range w.ConfigFiles(t) {
			configs.WriteString(data)
		}
		for k := range w.Env(t) {
			if strings.HasPrefix(k, "ACCELTEL_") {
				assert.Contains(t, configs.String(), "${env:"+k+":", "%s sets %s, which its config never reads", name, k)
			}
		}
	}
}

func TestCollectorContainers(t *testing.T) {
	version := distributionVersion(t)
	for name, w := range allCollectors(t) {
		c := w.Container
		assert.Equal(t, "ghcr.io/acceltel/otelcol-acceltel:"+version, c.Image, "%s: the image of this distribution's version", name)
		checkResourcesAndGoMemLimit(t, c)
		checkProbesOnHealthCheck(t, c)
		sc := c.SecurityContext
		require.NotNil(t, sc, name)
		require.NotNil(t, sc.AllowPrivilegeEscalation, name)
		assert.False(t, *sc.AllowPrivilegeEscalation, name)
		require.NotNil(t, sc.ReadOnlyRootFilesystem, name)
		assert.True(t, *sc.ReadOnlyRootFilesystem, name)
		require.NotNil(t, sc.Capabilities, name)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, name)
		if !strings.HasPrefix(name, "DaemonSet/") {
			// Only the node agent needs root's uid and capabilities.
			assert.Empty(t, sc.Capabilities.Add, name)
			nonRoot := sc.RunAsNonRoot
			if nonRoot == nil && w.Pod.SecurityContext != nil {
				nonRoot = w.Pod.SecurityContext.RunAsNonRoot
			}
			require.NotNil(t, nonRoot, name)
			assert.True(t, *nonRoot, name)
		}
	}
}

func distributionVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "builder-config.yaml"))
	require.NoError(t, err)
	var bc struct {
		Dist struct {
			Version string `yaml:"version"`
		} `yaml:"dist"`
	}
	require.NoError(t, yamlv3.Unmarshal(b, &bc))
	require.NotEmpty(t, bc.Dist.Version)
	return bc.Dist.Version
}

func TestGateway(t *testing.T) {
	o := buildCluster(t)
	require.Len(t, o.Deployments, 1)
	d := o.Deployments[0]
	assert.Nil(t, d.Spec.Replicas, "the autoscaler owns replicas")
	require.Len(t, o.HPAs, 1)
	hpa := o.HPAs[0]
	assert.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
	assert.Equal(t, d.Name, hpa.Spec.ScaleTargetRef.Name)
	require.NotNil(t, hpa.Spec.MinReplicas)
	assert.GreaterOrEqual(t, *hpa.Spec.MinReplicas, int32(2))
	require.NotEmpty(t, hpa.Spec.Metrics)
	assert.NotNil(t, hpa.Spec.Metrics[0].Resource)

	c := d.Spec.Template.Spec.Containers[0]
	env := deploytest.ContainerEnv(t, o, c)
	for _, k := range []string{"ACCELTEL_KAFKA_BROKERS", "ACCELTEL_KAFKA_METRICS_TOPIC", "ACCELTEL_REMOTE_WRITE_ENDPOINT"} {
		assert.NotEmpty(t, env[k], k)
	}
	// The agents produce to the topic the gateways consume.
	agentEnv := deploytest.ContainerEnv(t, o, o.DaemonSets[0].Spec.Template.Spec.Containers[0])
	assert.Equal(t, env["ACCELTEL_KAFKA_METRICS_TOPIC"], agentEnv["ACCELTEL_KAFKA_METRICS_TOPIC"])
	assert.Equal(t, env["ACCELTEL_KAFKA_BROKERS"], agentEnv["ACCELTEL_KAFKA_BROKERS"])

	// Every Service selects pods of this build, on ports they expose.
	for _, s := range o.Services {
		var pod corev1.PodTemplateSpec
		switch {
		case matches(s.Spec.Selector, d.Spec.Template.Labels):
			pod = d.Spec.Template
		case matches(s.Spec.Selector, o.DaemonSets[0].Spec.Template.Labels):
			pod = o.DaemonSets[0].Spec.Template
		default:
			t.Fatalf("Service %s selects no pod", s.Name)
		}
		for _, p := range s.Spec.Ports {
			found := false
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == p.TargetPort.StrVal
				}
			}
			assert.True(t, found, "Service %s port %s targets no container port", s.Name, p.Name)
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestJobExample: the sidecar and the training container meet on the
// plugin and the socket.
func TestJobExample(t *testing.T) {
	o := buildJobExample(t)
	require.Len(t, o.Jobs, 1)
	pod := o.Jobs[0].Spec.Template.Spec
	assert.True(t, *pod.ShareProcessNamespace)

	var copier, sidecar, trainer *corev1.Container
	for i, c := range pod.InitContainers {
		switch {
		case c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways:
			sidecar = &pod.InitContainers[i]
		case len(c.Command) > 0:
			copier = &pod.InitContainers[i]
		}
	}
	require.NotNil(t, sidecar, "a native sidecar (restartPolicy Always)")
	require.NotNil(t, copier, "an init container that copies the plugin")
	require.Len(t, pod.Containers, 1)
	trainer = &pod.Containers[0]
	assert.NotNil(t, sidecar.StartupProbe, "the trainer waits for the sidecar's socket")

	mountOf := func(c *corev1.Container, path string) string {
		for _, m := range c.VolumeMounts {
			if rel, err := filepath.Rel(m.MountPath, path); err == nil && !strings.HasPrefix(rel, "..") {
				return m.Name
			}
		}
		return ""
	}
	// The plugin: built as bin/libnccl-profiler-acceltel.so (Makefile),
	// copied into a volume the trainer loads it from.
	plugin, ok := deploytest.EnvVar(*trainer, "NCCL_PROFILER_PLUGIN")
	require.True(t, ok)
	assert.Equal(t, "libnccl-profiler-acceltel.so", filepath.Base(plugin.Value))
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	require.NoError(t, err)
	assert.Contains(t, string(makefile), "bin/libnccl-profiler-acceltel.so")
	require.NotEmpty(t, mountOf(trainer, plugin.Value))
	assert.Equal(t, mountOf(trainer, plugin.Value), mountOf(copier, copier.Command[len(copier.Command)-1]))
	assert.Equal(t, filepath.Base(plugin.Value), filepath.Base(copier.Command[len(copier.Command)-2]))

	// The image carries the plugin where the copier takes it from, and runs
	// the collector when a container gives only arguments.
	dockerfile, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	assert.Contains(t, string(dockerfile), "bin/libnccl-profiler-acceltel.so "+copier.Command[len(copier.Command)-2]+"\n")
	assert.Contains(t, string(dockerfile), `ENTRYPOINT ["/usr/local/bin/otelcol-acceltel"]`)

	// The socket: the same path in both, on the same volume.
	sock, ok := deploytest.EnvVar(*trainer, "ACCELTEL_NCCL_SOCKET")
	require.True(t, ok)
	sidecarSock, ok := deploytest.EnvVar(*sidecar, "ACCELTEL_NCCL_SOCKET")
	require.True(t, ok)
	assert.Equal(t, sock.Value, sidecarSock.Value)
	require.NotEmpty(t, mountOf(trainer, sock.Value))
	assert.Equal(t, mountOf(trainer, sock.Value), mountOf(sidecar, sock.Value))
	for _, v := range pod.Volumes {
		if v.Name == mountOf(trainer, sock.Value) {
			assert.NotNil(t, v.EmptyDir, "the socket directory is the pod's own emptyDir")
		}
	}
}

// TestSiteOverlay builds the overlay DEPLOY.md shows: this directory as a
// resource, the nvidia-runtimeclass component, the site's Kafka, another
// image tag.
func TestSiteOverlay(t *testing.T) {
	abs, err := filepath.Abs(".")
	require.NoError(t, err)
	dir := t.TempDir()
	// kustomize takes only relative paths to bases and components.
	dist, err := filepath.Rel(dir, abs)
	require.NoError(t, err)
	kust := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
components:
  - %s
configMapGenerator:
  - name: acceltel-kafka
    behavior: replace
    literals:
      - ACCELTEL_KAFKA_BROKERS=broker-0.example:9092,broker-1.example:9092
      - ACCELTEL_KAFKA_METRICS_TOPIC=gpu-metrics
images:
  - name: ghcr.io/acceltel/otelcol-acceltel
    newTag: 0.1.1
`, dist, filepath.Join(dist, "k8s/components/nvidia-runtimeclass"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o600))
	o := deploytest.Build(t, dir, types.LoadRestrictionsRootOnly)
	ds, c := agentDaemonSet(t, o)
	require.NotNil(t, ds.Spec.Template.Spec.RuntimeClassName)
	assert.Equal(t, "nvidia", *ds.Spec.Template.Spec.RuntimeClassName)
	assert.Equal(t, "ghcr.io/acceltel/otelcol-acceltel:0.1.1", c.Image)
	env := deploytest.ContainerEnv(t, o, c)
	assert.Equal(t, "broker-0.example:9092,broker-1.example:9092", env["ACCELTEL_KAFKA_BROKERS"])
	assert.Equal(t, "gpu-metrics", env["ACCELTEL_KAFKA_METRICS_TOPIC"])
	assert.Equal(t, "gpu-metrics", deploytest.ContainerEnv(t, o, o.Deployments[0].Spec.Template.Spec.Containers[0])["ACCELTEL_KAFKA_METRICS_TOPIC"])
}

// TestSystemdUnit: the bare-metal unit grants the DaemonSet's capabilities,
// no more, and its environment file feeds agent.yaml.
func TestSystemdUnit(t *testing.T) {
	unit := readUnit(t, "systemd/otelcol-acceltel.service")
	var want []string
	for _, c := range agentCapabilities {
		want = append(want, "CAP_"+c)
	}
	assert.ElementsMatch(t, want, strings.Fields(unit["AmbientCapabilities"]), "AmbientCapabilities")
	assert.ElementsMatch(t, want, strings.Fields(unit["CapabilityBoundingSet"]), "CapabilityBoundingSet")
	assert.Equal(t, "yes", unit["NoNewPrivileges"])
	assert.NotEqual(t, "invisible", unit["ProtectProc"], "the nccl and nvml receivers read other users' /proc/<pid>")
	assert.NotEqual(t, "yes", unit["PrivateDevices"], "NVML opens /dev/nvidia*")
	assert.Equal(t, "acceltel", unit["RuntimeDirectory"], "the NCCL socket directory, /run/acceltel")
	assert.Equal(t, "otelcol-acceltel", unit["StateDirectory"], "the persistent queue, /var/lib/otelcol-acceltel")

	// Two EnvironmentFile lines: the shipped one, then the optional (-)
	// root-only one with the Kafka password; the map keeps the last.
	unitText, err := os.ReadFile("systemd/otelcol-acceltel.service")
	require.NoError(t, err)
	assert.Contains(t, string(unitText), "\nEnvironmentFile=/etc/otelcol-acceltel/otelcol-acceltel.env\n")
	assert.Equal(t, "-/etc/otelcol-acceltel/kafka.secret", unit["EnvironmentFile"])
	env := readEnvFile(t, "systemd/otelcol-acceltel.env")
	assert.Equal(t, "/run/acceltel/nccl.sock", env["ACCELTEL_NCCL_SOCKET"])
	assert.Equal(t, "/var/lib/otelcol-acceltel", env["ACCELTEL_STORAGE_DIR"])
	cfg, ok := env["ACCELTEL_CONFIG"]
	require.True(t, ok)
	shipped, err := os.ReadFile(filepath.Base(cfg))
	require.NoError(t, err, "ACCELTEL_CONFIG names a shipped config")
	for k := range env {
		if strings.HasPrefix(k, "ACCELTEL_") && k != "ACCELTEL_CONFIG" {
			assert.Contains(t, string(shipped), "${env:"+k+":", "the env file sets %s, which %s never reads", k, cfg)
		}
	}
	assert.Contains(t, unit["ExecStart"], "${ACCELTEL_CONFIG}")

	// GOMEMLIMIT: 80% of MemoryMax, as in the manifests. systemd's M is
	// 1024², like Go's MiB.
	maxMiB, ok := strings.CutSuffix(unit["MemoryMax"], "M")
	require.True(t, ok, "MemoryMax in M: %s", unit["MemoryMax"])
	gmlMiB, ok := strings.CutSuffix(env["GOMEMLIMIT"], "MiB")
	require.True(t, ok, "GOMEMLIMIT in MiB: %s", env["GOMEMLIMIT"])
	maxQ, gmlQ := resource.MustParse(maxMiB), resource.MustParse(gmlMiB)
	assert.Equal(t, maxQ.Value()*8/10, gmlQ.Value(), "GOMEMLIMIT is 80%% of MemoryMax")
}

// readUnit reads a systemd unit's keys (the last value of a repeated key;
// none of the asserted ones repeat).
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q", path, line)
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		require.True(t, ok, "%s: %q", path, s)
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// TestSystemdUnitVerifies runs systemd's own checker on the unit, which
// reports an unknown or misspelt directive (that systemd would ignore, so
// a sandboxing line could silently not apply). The binary path is replaced
// by one that exists here: verify checks that ExecStart is executable.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH (package systemd); the unit's keys are checked by TestSystemdUnit only")
	}
	b, err := os.ReadFile("systemd/otelcol-acceltel.service")
	require.NoError(t, err)
	unit := filepath.Join(t.TempDir(), "otelcol-acceltel.service")
	require.NoError(t, os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/otelcol-acceltel"), []byte("/bin/true")), 0o600))
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")
}

// TestSidecarFindsTheAgent: the sidecar's two ways to the node agent lead
// to it: the Job's ACCELTEL_AGENT_ENDPOINT (the node's IP) on the port the
// DaemonSet opens on the host, and sidecar.yaml's default, the agent's
// node-local Service in the agent's namespace.
func TestSidecarFindsTheAgent(t *testing.T) {
	cluster := buildCluster(t)
	ds, agent := agentDaemonSet(t, cluster)
	var hostPort int32
	for _, p := range agent.Ports {
		if p.Name == "otlp-grpc" {
			hostPort = p.HostPort
		}
	}
	require.NotZero(t, hostPort)

	var sidecar deploytest.Collector
	for name, c := range deploytest.Collectors(buildJobExample(t)) {
		if strings.HasPrefix(name, "Job/") {
			sidecar = c
		}
	}
	endpoint := sidecar.Env(t)["ACCELTEL_AGENT_ENDPOINT"]
	assert.Equal(t, fmt.Sprintf("10.0.0.7:%d", hostPort), endpoint, "status.hostIP and the agent's hostPort")

	b, err := os.ReadFile("sidecar.yaml")
	require.NoError(t, err)
	m := regexp.MustCompile(`\$\{env:ACCELTEL_AGENT_ENDPOINT:-([^}]+)\}`).FindSubmatch(b)
	require.NotNil(t, m, "sidecar.yaml: the agent endpoint's default")
	var svc *corev1.Service
	for _, s := range cluster.Services {
		if s.Spec.Selector["app.kubernetes.io/component"] == "agent" {
			svc = s
		}
	}
	require.NotNil(t, svc)
	require.NotNil(t, svc.Spec.InternalTrafficPolicy)
	assert.Equal(t, corev1.ServiceInternalTrafficPolicyLocal, *svc.Spec.InternalTrafficPolicy, "only the agent of the sidecar's own node")
	assert.Equal(t, fmt.Sprintf("%s.%s.svc:%d", svc.Name, ds.Namespace, svc.Spec.Ports[0].Port), string(m[1]))
}
