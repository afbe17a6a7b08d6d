package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/acceltel/acceltel/internal/configcheck"
	"github.com/acceltel/acceltel/internal/distro"
)

func newValidateCommand() *cobra.Command {
	var uris []string
	cmd := &cobra.Command{
		Use:   "validate --config FILE [--config FILE...]",
		Short: "Check a collector config against the components of otelcol-acceltel",
		Long: "Check a collector config against the components of otelcol-acceltel.\n" +
			"Every problem is printed as FILE:LINE:COLUMN: PATH: MESSAGE; the exit status is 1 when there is any.\n" +
			"--config takes what the collector takes: a path, or a URI (file:, env:, yaml:, http:), merged in order.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			factories, err := distro.Components()
			if err != nil {
				return err
			}
			probs := configcheck.Check(cmd.Context(), uris, configcheck.Settings{
				Factories: factories,
				Providers: distro.ProviderFactories(),
				BuildInfo: buildInfo(),
			})
			for _, p := range probs {
				fmt.Fprintln(cmd.ErrOrStderr(), p)
			}
			if len(probs) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d problem(s)\n", len(probs))
				return exitError{code: 1}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "config is valid")
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&uris, "config", nil, "config file or URI (repeatable)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
