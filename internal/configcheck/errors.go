package configcheck

import (
	"errors"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

var (
	// confmap.Validate writes "a::b: message"; a message of its own has spaces before its first colon.
	validatePathRe = regexp.MustCompile(`^([^\s:]+(?:::[^\s:]+)*): (.+)$`)
	// mapstructure names a field by its dotted path, with map keys in brackets.
	bracketRe = regexp.MustCompile(`\[([^\]]*)\]`)
	// mapstructure names the root struct by its Go type, e.g. "debugexporter.Config".
	goTypeRe = regexp.MustCompile(`^[a-z0-9_]+\.[A-Z][A-Za-z0-9_]*(\.|$)`)
)

// decodeError is mapstructure's DecodeError: an error at a named field.
// A component that unmarshals a section itself nests a second tree under
// that field, with names relative to the section.
type decodeError interface {
	Name() string
	Unwrap() error
}

// decodeProblems walks a confmap decode error and returns one problem per field.
func decodeProblems(base string, err error) []Problem {
	var probs []Problem
	var walk func(prefix string, e error)
	walk = func(prefix string, e error) {
		switch x := e.(type) { //nolint:errorlint // walks the error tree itself, one level per call
		case interface{ Unwrap() []error }:
			for _, child := range x.Unwrap() {
				walk(prefix, child)
			}
			return
		case decodeError:
			path := join(prefix, fieldPath(x.Name()))
			inner := x.Unwrap()
			if inner == nil {
				probs = append(probs, Problem{Path: path, Msg: e.Error()})
				return
			}
			if keys, ok := strings.CutPrefix(inner.Error(), invalidKeys); ok {
				for _, key := range strings.Split(keys, ",") {
					key = strings.TrimSpace(key)
					probs = append(probs, Problem{Path: join(path, key), Msg: "unknown key " + quote(key)})
				}
				return
			}
			walk(path, inner)
			return
		}
		if strings.HasPrefix(e.Error(), decodingFailed) {
			if inner := errors.Unwrap(e); inner != nil {
				walk(prefix, inner)
				return
			}
		}
		probs = append(probs, Problem{Path: prefix, Msg: e.Error()})
	}
	walk(base, err)
	return probs
}

const (
	invalidKeys    = "has invalid keys: "
	decodingFailed = "decoding failed due to the following error(s)"
)

// validateProblems turns a (joined) confmap.Validate error into problems.
func validateProblems(base string, err error) []Problem {
	var errs []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	} else {
		errs = []error{err}
	}
	var probs []Problem
	for _, e := range errs {
		if e == nil {
			continue
		}
		if _, ok := e.(interface{ Unwrap() []error }); ok {
			probs = append(probs, validateProblems(base, e)...)
			continue
		}
		// A wrapper that adds nothing to the message (confmap's pathError at a
		// component's root) may hide the component's own joined errors.
		if inner := errors.Unwrap(e); inner != nil && inner.Error() == e.Error() {
			probs = append(probs, validateProblems(base, inner)...)
			continue
		}
		msg := strings.TrimSpace(e.Error())
		if m := validatePathRe.FindStringSubmatch(msg); m != nil {
			probs = append(probs, Problem{Path: join(base, m[1]), Msg: m[2]})
			continue
		}
		probs = append(probs, Problem{Path: base, Msg: msg})
	}
	return probs
}

// fieldPath turns mapstructure's "protocols.grpc" or "headers[x]" into "protocols::grpc".
func fieldPath(p string) string {
	p = goTypeRe.ReplaceAllString(p, "")
	p = bracketRe.ReplaceAllString(p, ".$1")
	return strings.ReplaceAll(p, ".", confmap.KeyDelimiter)
}

func join(parts ...string) string {
	nonEmpty := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, confmap.KeyDelimiter)
}

func quote(s string) string { return "'" + s + "'" }

// suggest returns ` (did you mean "x"?)` for the closest candidate, if any is close.
func suggest(got string, candidates []string) string {
	best, bestDist := "", len(got)/2+1
	for _, c := range candidates {
		if d := levenshtein(got, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
