package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/acceltel/acceltel/internal/distro"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of acceltel and of the distribution it matches",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "acceltel %s (%s %s %s/%s)\n",
				version, distro.Command, distro.Version, runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
