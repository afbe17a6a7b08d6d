package configcheck

import (
	"os"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"
)

type source struct {
	name string
	root *yaml.Node
}

// locator finds a config path in the YAML files it came from. Later files
// override earlier ones when the collector merges them, so they are searched first.
type locator struct {
	sources []source
}

func newLocator(uris []string) *locator {
	l := &locator{}
	for i := len(uris) - 1; i >= 0; i-- {
		name, ok := filePath(uris[i])
		if !ok {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			continue
		}
		l.sources = append(l.sources, source{name: name, root: doc.Content[0]})
	}
	return l
}

// filePath returns the file behind a --config URI: a bare path or file:path.
func filePath(uri string) (string, bool) {
	if rest, ok := strings.CutPrefix(uri, "file:"); ok {
		return rest, true
	}
	if i := strings.Index(uri, ":"); i > 0 && !strings.ContainsAny(uri[:i], `/\.`) {
		return "", false // another provider's scheme: env:, yaml:, http:
	}
	return uri, true
}

// locate fills File, Line and Column of p with the deepest node of p.Path
// found in a source. A path that no source holds (a default, or an env
// value) keeps the file of its nearest ancestor.
func (l *locator) locate(p *Problem) {
	if p.Path == "" {
		if len(l.sources) == 1 {
			p.File = l.sources[0].name
		}
		return
	}
	keys := strings.Split(p.Path, confmap.KeyDelimiter)
	bestDepth := 0
	for _, s := range l.sources {
		node, depth := find(s.root, keys)
		if depth < len(keys) && depth >= 2 {
			// A component that unmarshals a nested section itself makes
			// mapstructure name the field relative to that section: look for
			// the rest of the path anywhere below the component.
			if n, ok := findSuffix(valueOf(s.root, keys[:2]), keys[depth:]); ok {
				node, depth = n, len(keys)
			}
		}
		if depth > bestDepth {
			bestDepth = depth
			p.File, p.Line, p.Column = s.name, node.Line, node.Column
		}
		if depth == len(keys) {
			return
		}
	}
}

// valueOf returns the value node at keys, or nil.
func valueOf(n *yaml.Node, keys []string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// findSuffix finds, depth first, a key node under n whose path ends with keys.
func findSuffix(n *yaml.Node, keys []string) (*yaml.Node, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false
	}
	if node, depth := find(n, keys); depth == len(keys) {
		return node, true
	}
	for i := 1; i < len(n.Content); i += 2 {
		if node, ok := findSuffix(n.Content[i], keys); ok {
			return node, true
		}
	}
	return nil, false
}

// find walks keys down a mapping and returns the deepest key node reached and its depth.
func find(n *yaml.Node, keys []string) (*yaml.Node, int) {
	reached, depth := n, 0
	for _, k := range keys {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				reached, next = n.Content[i], n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		depth++
		n = next
	}
	return reached, depth
}
