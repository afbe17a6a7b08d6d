package main

import (
	"errors"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/acceltel/acceltel/internal/distro"
)

func buildInfo() component.BuildInfo {
	return component.BuildInfo{Command: distro.Command, Description: distro.Description, Version: distro.Version}
}

// newComponentsCommand is the collector's own `components` command over the
// distribution's factories, so both binaries print the same list the same way.
func newComponentsCommand() *cobra.Command {
	col := otelcol.NewCommand(otelcol.CollectorSettings{
		BuildInfo: buildInfo(),
		Factories: distro.Components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{ProviderFactories: distro.ProviderFactories()},
		},
	})
	for _, c := range col.Commands() {
		if c.Name() == "components" {
			col.RemoveCommand(c)
			return c
		}
	}
	return &cobra.Command{
		Use: "components",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("this collector version has no components command")
		},
	}
}
