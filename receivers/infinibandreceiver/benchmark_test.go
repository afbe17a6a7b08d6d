package infinibandreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/procfs/sysfs"
	"github.com/stretchr/testify/require"
)

// eightHCAs builds a host with eight copies of the fixture's mlx5_0, as on
// an 8-rail GPU node.
func eightHCAs(b *testing.B) string {
	b.Helper()
	src := os.DirFS(filepath.Join(fixture(b), "sys", "class", "infiniband", "mlx5_0"))
	root := b.TempDir()
	require.NoError(b, os.CopyFS(root, os.DirFS(fixture(b))))
	class := filepath.Join(root, "sys", "class", "infiniband")
	require.NoError(b, os.RemoveAll(class))
	for i := range 8 {
		dir := filepath.Join(class, fmt.Sprintf("mlx5_%d", i))
		require.NoError(b, os.CopyFS(dir, src))
	}
	return root
}

// BenchmarkScrape8HCAs is one scrape of eight mlx5 HCAs, one port each.
func BenchmarkScrape8HCAs(b *testing.B) {
	s, _ := newTestScraper(b, eightHCAs(b))
	ctx := context.Background()
	_, err := s.scrape(ctx)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.scrape(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineProcfs8HCAs parses the same tree with prometheus/procfs,
// as node_exporter's infiniband collector does, without building any
// metrics: the baseline BenchmarkScrape8HCAs is read against.
func BenchmarkBaselineProcfs8HCAs(b *testing.B) {
	fs, err := sysfs.NewFS(filepath.Join(eightHCAs(b), "sys"))
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		class, err := fs.InfiniBandClass()
		if err != nil {
			b.Fatal(err)
		}
		if len(class) != 8 {
			b.Fatalf("%d HCAs", len(class))
		}
	}
}
