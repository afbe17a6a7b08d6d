package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// podRef is the container the kubelet gave a GPU to.
type podRef struct {
	pod, namespace, container string
}

// podCache keeps the kubelet's GPU→pod assignment, refreshed in its own
// goroutine so a slow or absent kubelet never delays a scrape.
type podCache struct {
	socket   string
	interval time.Duration
	logger   *zap.Logger

	mu     sync.RWMutex
	byUUID map[string]podRef

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startPodCache(socket string, interval time.Duration, logger *zap.Logger) *podCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &podCache{socket: socket, interval: interval, logger: logger, byUUID: map[string]podRef{}, cancel: cancel}
	c.wg.Add(1)
	go c.loop(ctx)
	return c
}

func (c *podCache) lookup(uuid string) (podRef, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.byUUID[uuid]
	return r, ok
}

func (c *podCache) loop(ctx context.Context) {
	defer c.wg.Done()
	var lastErr string
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		// Logged only when the reason changes, so a node without a kubelet
		// says so once.
		if err := c.refresh(ctx); err != nil {
			if err.Error() != lastErr {
				c.logger.Info("kubelet pod-resources not available; GPUs are not attributed to pods", zap.String("socket", c.socket), zap.Error(err))
				lastErr = err.Error()
			}
		} else if lastErr != "" {
			c.logger.Info("kubelet pod-resources available", zap.String("socket", c.socket))
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *podCache) refresh(ctx context.Context) error {
	if _, err := os.Stat(c.socket); err != nil {
		return err
	}
	conn, err := grpc.NewClient("unix://"+c.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := podresourcesapi.NewPodResourcesListerClient(conn).List(ctx, &podresourcesapi.ListPodResourcesRequest{})
	if err != nil {
		return err
	}
	m := gpuOwners(resp)
	c.mu.Lock()
	c.byUUID = m
	c.mu.Unlock()
	return nil
}

// gpuOwners maps each device id of the kubelet's answer to the container
// that holds it.
func gpuOwners(resp *podresourcesapi.ListPodResourcesResponse) map[string]podRef {
	m := map[string]podRef{}
	for _, p := range resp.GetPodResources() {
		for _, ctr := range p.GetContainers() {
			for _, d := range ctr.GetDevices() {
				// The NVIDIA device plugin hands out GPU (and MIG) UUIDs
				// as device IDs, whatever the resource is named.
				for _, id := range d.GetDeviceIds() {
					// Time-sliced replicas are named <uuid>::<n>.
					id, _, _ = strings.Cut(id, "::")
					m[id] = podRef{pod: p.GetName(), namespace: p.GetNamespace(), container: ctr.GetName()}
				}
			}
		}
	}
	return m
}

func (c *podCache) stop() {
	c.cancel()
	c.wg.Wait()
}
