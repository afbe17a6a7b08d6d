// Package configcheck validates a collector configuration against a set of
// factories and reports every problem it finds, each with its YAML path and,
// when the config came from a file, its line and column.
//
// The collector's own `validate` stops at the first error of a section and
// names no line; this walks each component on its own so one run shows all
// of them, then hands the whole config to the collector's DryRun so that
// nothing the collector would reject passes here.
package configcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
)

// Problem is one configuration error.
type Problem struct {
	// Path is the config path, keys joined by "::" as the collector writes them.
	Path string
	// File, Line and Column locate Path in the YAML it came from; empty or zero when unknown.
	File   string
	Line   int
	Column int
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Settings is what Check needs from a distribution.
type Settings struct {
	Factories otelcol.Factories
	Providers []confmap.ProviderFactory
	BuildInfo component.BuildInfo
}

// Check resolves the config at uris (paths or provider URIs, merged in order,
// as --config does for the collector) and returns every problem found.
// An empty result means the collector would accept the config.
func Check(ctx context.Context, uris []string, set Settings) []Problem {
	if len(uris) == 0 {
		return []Problem{{Msg: "no config given"}}
	}
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              uris,
		ProviderFactories: set.Providers,
		DefaultScheme:     "env",
		ProviderSettings:  confmap.ProviderSettings{Logger: zap.NewNop()},
	})
	if err != nil {
		return []Problem{{Msg: err.Error()}}
	}
	conf, err := resolver.Resolve(ctx)
	if err != nil {
		return []Problem{{Msg: err.Error()}}
	}
	loc := newLocator(uris)

	var probs []Problem
	probs = append(probs, checkComponents(conf, "receivers", set.Factories.Receivers)...)
	probs = append(probs, checkComponents(conf, "processors", set.Factories.Processors)...)
	probs = append(probs, checkComponents(conf, "exporters", set.Factories.Exporters)...)
	probs = append(probs, checkComponents(conf, "connectors", set.Factories.Connectors)...)
	probs = append(probs, checkComponents(conf, "extensions", set.Factories.Extensions)...)
	probs = append(probs, checkTopLevel(conf)...)

	// The collector's own checks (service section, references, the pipeline
	// graph) report one error at a time; they run once the components are clean.
	if len(probs) == 0 {
		probs = append(probs, dryRun(ctx, uris, set)...)
	}
	secrets := secretValues(conf.ToStringMap())
	for i := range probs {
		loc.locate(&probs[i])
		probs[i].Msg = redact(probs[i].Msg, secrets)
	}
	return probs
}

var topLevelKeys = []string{"receivers", "processors", "exporters", "connectors", "extensions", "service"}

func checkTopLevel(conf *confmap.Conf) []Problem {
	var probs []Problem
	for key := range conf.ToStringMap() {
		if !slices.Contains(topLevelKeys, key) {
			probs = append(probs, Problem{Path: key, Msg: "unknown top-level key" + suggest(key, topLevelKeys)})
		}
	}
	return probs
}

func checkComponents[F component.Factory](conf *confmap.Conf, kind string, factories map[component.Type]F) []Problem {
	section, err := conf.Sub(kind)
	if err != nil {
		return []Problem{{Path: kind, Msg: err.Error()}}
	}
	types := make([]string, 0, len(factories))
	for t := range factories {
		types = append(types, t.String())
	}
	slices.Sort(types)

	var probs []Problem
	for _, key := range slices.Sorted(maps.Keys(section.ToStringMap())) {
		path := kind + confmap.KeyDelimiter + key
		var id component.ID
		if err := id.UnmarshalText([]byte(key)); err != nil {
			probs = append(probs, Problem{Path: path, Msg: err.Error()})
			continue
		}
		factory, ok := factories[id.Type()]
		if !ok {
			probs = append(probs, Problem{
				Path: path,
				Msg: fmt.Sprintf("unknown %s type %q%s (this distribution has: %s)",
					strings.TrimSuffix(kind, "s"), id.Type(), suggest(id.Type().String(), types), strings.Join(types, ", ")),
			})
			continue
		}
		sub, err := section.Sub(key)
		if err != nil {
			probs = append(probs, Problem{Path: path, Msg: err.Error()})
			continue
		}
		cfg := factory.CreateDefaultConfig()
		if err := sub.Unmarshal(&cfg); err != nil {
			probs = append(probs, decodeProblems(path, err)...)
			continue
		}
		if err := confmap.Validate(cfg); err != nil {
			probs = append(probs, validateProblems(path, err)...)
		}
	}
	return probs
}

func dryRun(ctx context.Context, uris []string, set Settings) []Problem {
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: set.BuildInfo,
		Factories: func() (otelcol.Factories, error) { return set.Factories, nil },
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs:              uris,
				ProviderFactories: set.Providers,
				DefaultScheme:     "env",
			},
		},
	})
	if err != nil {
		return []Problem{{Msg: err.Error()}}
	}
	if err := col.DryRun(ctx); err != nil {
		return validateProblems("", unwrapFailedToGet(err))
	}
	return nil
}

// unwrapFailedToGet drops the collector's "failed to get config: cannot
// unmarshal the configuration:" prefixes, which say nothing about where.
func unwrapFailedToGet(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil || !strings.HasPrefix(err.Error(), "failed to get config") && !strings.HasPrefix(err.Error(), "cannot unmarshal") {
			return err
		}
		err = inner
	}
}
