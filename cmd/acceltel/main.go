// Command acceltel is the command-line companion of the otelcol-acceltel
// collector: it checks configs with the distribution's own components and,
// as later commands land, plans layouts, runs benchmark plugins and renders reports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit code out of a subcommand without cobra printing it again.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "acceltel",
		Short:         "Command-line companion of the otelcol-acceltel collector",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCommand(), newValidateCommand(), newComponentsCommand(), newPlanCommand(), newBenchCommand(), newAnomalyCommand(), newReportCommand())

	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if e, ok := errors.AsType[exitError](err); ok {
		return e.code
	}
	fmt.Fprintln(stderr, "acceltel:", err)
	return 2
}
