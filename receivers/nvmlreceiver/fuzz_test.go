package nvmlreceiver

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// FuzzPodResources feeds gpuOwners what the kubelet's pod-resources socket
// answers, as protobuf bytes. Every device id of the answer, with a
// time-slicing replica suffix (::n) cut off, names the container that holds
// it (the last one listed, when a device is listed twice), and nothing else
// is in the map.
func FuzzPodResources(f *testing.F) {
	for _, resp := range []*podresourcesapi.ListPodResourcesResponse{
		{PodResources: []*podresourcesapi.PodResources{{
			Name: "llama-train-0", Namespace: "ml",
			Containers: []*podresourcesapi.ContainerResources{{
				Name: "trainer",
				Devices: []*podresourcesapi.ContainerDevices{
					{ResourceName: "nvidia.com/gpu", DeviceIds: []string{"GPU-8a3c5f2e-0000-4000-8000-000000000001", "GPU-8a3c5f2e-0000-4000-8000-000000000004::1"}},
					{ResourceName: "nvidia.com/mig-1g.10gb", DeviceIds: []string{"MIG-5c2b1d4e-0000-4000-8000-000000000002"}},
				},
			}, {Name: "sidecar"}},
		}, {Name: "other", Namespace: "default", Containers: []*podresourcesapi.ContainerResources{{
			Name: "c", Devices: []*podresourcesapi.ContainerDevices{{ResourceName: "nvidia.com/gpu", DeviceIds: []string{"GPU-8a3c5f2e-0000-4000-8000-000000000004::2", "::", ""}}},
		}}}}},
		{},
	} {
		b, err := proto.Marshal(resp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp podresourcesapi.ListPodResourcesResponse
		if err := proto.Unmarshal(b, &resp); err != nil {
			return // grpc would have refused it
		}
		got := gpuOwners(&resp)
		want := map[string]podRef{}
		for _, p := range resp.GetPodResources() {
			for _, c := range p.GetContainers() {
				for _, d := range c.GetDevices() {
					for _, id := range d.GetDeviceIds() {
						if i := strings.Index(id, "::"); i >= 0 {
							id = id[:i]
						}
						want[id] = podRef{pod: p.GetName(), namespace: p.GetNamespace(), container: c.GetName()}
					}
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d devices mapped, the answer names %d", len(got), len(want))
		}
		for id, ref := range want {
			if g, ok := got[id]; !ok || g != ref {
				t.Fatalf("device %q: got %+v, want %+v", id, got[id], ref)
			}
		}
	})
}
