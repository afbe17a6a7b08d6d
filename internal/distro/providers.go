package distro

import (
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/httpprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
)

// The dist section of builder-config.yaml; TestBuildInfoMatchesManifest keeps them equal.
const (
	Command     = "otelcol-acceltel"
	Description = "acceltel, an OpenTelemetry Collector distribution for GPU clusters"
	Version     = "0.1.0"
)

// ProviderFactories returns the config providers of the distribution.
// OCB writes them into main(), where nothing else can reach them;
// TestProvidersMatchManifest keeps this list equal to builder-config.yaml.
func ProviderFactories() []confmap.ProviderFactory {
	return []confmap.ProviderFactory{
		envprovider.NewFactory(),
		fileprovider.NewFactory(),
		yamlprovider.NewFactory(),
		httpprovider.NewFactory(),
	}
}
