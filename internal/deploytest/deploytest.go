// Package deploytest builds the Kubernetes manifests of
// distributions/otelcol-acceltel with kustomize and decodes them strictly
// into the k8s.io/api types, for the tests that check them (the manifest
// tests next to the manifests, and the testbed, which runs each collector's
// command line through the built CLI).
//
// It is a package of its own, not part of either test, because kustomize's
// plugin loader imports the Go plugin package, which makes a test binary
// resolve every C symbol at start; a test binary that also links the nvml
// receiver (go-nvml leaves NVML's symbols to be found when the library is
// loaded) then fails to start. So the tests that use this package run the
// collector's config check through the built binary instead of in process.
package deploytest // import "github.com/acceltel/acceltel/internal/deploytest"

import (
	"errors"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Objects is one kustomize build, decoded.
type Objects struct {
	DaemonSets      []*appsv1.DaemonSet
	Deployments     []*appsv1.Deployment
	Jobs            []*batchv1.Job
	Services        []*corev1.Service
	ConfigMaps      map[string]*corev1.ConfigMap
	ServiceAccounts []*corev1.ServiceAccount
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	// Kinds lists the kind of every resource, in build order.
	Kinds []string
}

// newObject is the type each resource the manifests may contain decodes
// into. No Role or ClusterRole: nothing in acceltel calls the Kubernetes API.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Service":
		return &corev1.Service{}
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "batch/v1 Job":
		return &batchv1.Job{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	}
	return nil
}

// Build runs kustomize on dir, as `kustomize build` would with the given
// load restrictor, and decodes every resource strictly: an unknown or
// misspelt field fails the test, as does a kind not listed in newObject.
func Build(t testing.TB, dir string, restrict types.LoadRestrictions) Objects {
	t.Helper()
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = restrict
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), abs)
	require.NoError(t, err, "kustomize build %s", dir)
	o := Objects{ConfigMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		require.NoError(t, err)
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal(y, &head))
		obj := newObject(head.APIVersion, head.Kind)
		require.NotNil(t, obj, "%s: %s %s is not a kind these manifests may contain", dir, head.APIVersion, head.Kind)
		require.NoError(t, DecodeStrict(y, obj), "%s: %s:\n%s", dir, head.Kind, y)
		o.Kinds = append(o.Kinds, head.Kind)
		switch v := obj.(type) {
		case *appsv1.DaemonSet:
			o.DaemonSets = append(o.DaemonSets, v)
		case *appsv1.Deployment:
			o.Deployments = append(o.Deployments, v)
		case *batchv1.Job:
			o.Jobs = append(o.Jobs, v)
		case *corev1.Service:
			o.Services = append(o.Services, v)
		case *corev1.ConfigMap:
			o.ConfigMaps[v.Name] = v
		case *corev1.ServiceAccount:
			o.ServiceAccounts = append(o.ServiceAccounts, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			o.HPAs = append(o.HPAs, v)
		}
	}
	return o
}

// DecodeStrict decodes one YAML document as the API server's strict field
// validation does: a field the type does not have, a field in the wrong
// case (hostPid for hostPID, which encoding/json would accept), or a
// duplicate key is an error.
func DecodeStrict(y []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// The entry points, relative to distributions/otelcol-acceltel: the cluster
// (its Kustomization, under kustomize's default load restrictor) and the
// training Job example (which reads ../../../sidecar.yaml, so it needs
// LoadRestrictionsNone).
const (
	ClusterDir    = "."
	JobExampleDir = "k8s/examples/training-job"
)

// BuildAll builds both entry points of the distribution directory dist.
func BuildAll(t testing.TB, dist string) []Objects {
	t.Helper()
	return []Objects{
		Build(t, filepath.Join(dist, ClusterDir), types.LoadRestrictionsRootOnly),
		Build(t, filepath.Join(dist, JobExampleDir), types.LoadRestrictionsNone),
	}
}

// Collector is a container that runs otelcol-acceltel, with its pod and
// the build it comes from.
type Collector struct {
	Objects   Objects
	Pod       corev1.PodSpec
	Container corev1.Container
}

// Collectors are the collector containers of some builds, keyed
// kind/workload/container. A container of the collector's image that runs
// a command of its own (the Job's plugin copier) is not one.
func Collectors(builds ...Objects) map[string]Collector {
	out := map[string]Collector{}
	for _, o := range builds {
		add := func(kind, name string, pod corev1.PodSpec) {
			for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
				if strings.Contains(c.Image, "otelcol-acceltel") && len(c.Command) == 0 {
					out[kind+"/"+name+"/"+c.Name] = Collector{o, pod, c}
				}
			}
		}
		for _, d := range o.DaemonSets {
			add("DaemonSet", d.Name, d.Spec.Template.Spec)
		}
		for _, d := range o.Deployments {
			add("Deployment", d.Name, d.Spec.Template.Spec)
		}
		for _, j := range o.Jobs {
			add("Job", j.Name, j.Spec.Template.Spec)
		}
	}
	return out
}

// ConfigFiles maps each --config file of the collector to the content of
// the ConfigMap key it is mounted from.
func (c Collector) ConfigFiles(t testing.TB) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, a := range c.Container.Args {
		path, ok := strings.CutPrefix(a, "--config=")
		if !ok || strings.Contains(path, ":") {
			continue // a provider URI (yaml:, env:), not a file
		}
		var found bool
		for _, m := range c.Container.VolumeMounts {
			rel, err := filepath.Rel(m.MountPath, path)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			for _, v := range c.Pod.Volumes {
				if v.Name != m.Name || v.ConfigMap == nil {
					continue
				}
				cm, ok := c.Objects.ConfigMaps[v.ConfigMap.Name]
				require.True(t, ok, "%s: ConfigMap %s is not in the build", c.Container.Name, v.ConfigMap.Name)
				data, ok := cm.Data[rel]
				require.True(t, ok, "%s: ConfigMap %s has no key %s", c.Container.Name, cm.Name, rel)
				files[path] = data
				found = true
			}
		}
		require.True(t, found, "%s: --config %s is not on a ConfigMap volume", c.Container.Name, path)
	}
	require.NotEmpty(t, files, "%s: no --config file", c.Container.Name)
	return files
}

// downwardAPI are plausible values of the downward-API fields the
// manifests use.
var downwardAPI = map[string]string{
	"spec.nodeName": "gpu-node-1", "status.hostIP": "10.0.0.7", "status.podIP": "10.1.2.3",
	"metadata.name": "pod-0", "metadata.namespace": "team", "metadata.uid": "2b4c1f8e-0000-4000-8000-000000000001",
	"metadata.labels['batch.kubernetes.io/job-name']": "job-0",
}

var envRef = regexp.MustCompile(`\$\((\w+)\)`)

// Env is the environment the kubelet would give the container: envFrom
// ConfigMaps from the build, literal values with $(VAR) expanded as the
// kubelet does (only variables defined earlier), downward-API fields as a
// plausible value, HOSTNAME as the pod's name.
func (c Collector) Env(t testing.TB) map[string]string {
	t.Helper()
	return ContainerEnv(t, c.Objects, c.Container)
}

// ContainerEnv is Env for any container of a build.
func ContainerEnv(t testing.TB, o Objects, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{"HOSTNAME": "pod-0"}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			t.Fatalf("%s: envFrom Secret %s: name each secret variable with secretKeyRef instead", c.Name, ef.SecretRef.Name)
		}
		require.NotNil(t, ef.ConfigMapRef, c.Name)
		cm, ok := o.ConfigMaps[ef.ConfigMapRef.Name]
		require.True(t, ok, "%s: envFrom ConfigMap %s is not in the build", c.Name, ef.ConfigMapRef.Name)
		maps.Copy(env, cm.Data)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v, ok := downwardAPI[e.ValueFrom.FieldRef.FieldPath]
			require.True(t, ok, "%s: %s from %s", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			env[e.Name] = v
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			// A Secret's value is the operator's; any non-empty value stands in.
			env[e.Name] = "secret-" + e.ValueFrom.SecretKeyRef.Name + "-" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil:
			t.Fatalf("%s: %s: only fieldRef and secretKeyRef are expected", c.Name, e.Name)
		default:
			env[e.Name] = envRef.ReplaceAllStringFunc(e.Value, func(m string) string {
				v, ok := env[envRef.FindStringSubmatch(m)[1]]
				require.True(t, ok, "%s: %s refers to %s, defined after it or not at all", c.Name, e.Name, m)
				return v
			})
		}
	}
	return env
}

// EnvVar is the container's variable name as the manifest sets it.
func EnvVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}
