package acceltelstatusextension // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/acceltel/acceltel/extensions/acceltelstatusextension/internal/metadata"
)

// NewFactory returns the factory of the acceltelstatus extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, func() component.Config { return createDefaultConfig() }, create, metadata.ExtensionStability)
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newStatus(cfg.(*Config), set), nil
}
