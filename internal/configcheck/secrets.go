package configcheck

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// secretKeyRe matches the config keys whose values are credentials. Errors
// from components and from the collector may quote a value (a URL that does
// not parse, a header that is not allowed), so every such value is removed
// from what validate prints, whatever produced the message.
var secretKeyRe = regexp.MustCompile(`(?i)(passw|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|key_pem|credential|authorization|cookie|session)`)

// minSecretLen keeps short values such as "on" or "1" from being masked
// everywhere they happen to appear in a message.
const minSecretLen = 4

const redacted = "[REDACTED]"

// secretValues returns every credential in a resolved config: values under
// secret-looking keys, every header value (headers carry tokens under any
// name), and the password in any URL's user info.
func secretValues(conf map[string]any) []string {
	var out []string
	var walk func(key string, v any, inHeaders bool)
	walk = func(key string, v any, inHeaders bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				walk(k, child, strings.EqualFold(k, "headers"))
			}
		case []any:
			for _, child := range x {
				walk(key, child, inHeaders)
			}
		case string:
			if inHeaders || secretKeyRe.MatchString(key) {
				out = append(out, x)
			}
			if p, ok := userinfoPassword(x); ok {
				out = append(out, p)
			}
		}
	}
	walk("", conf, false)
	out = slices.DeleteFunc(out, func(s string) bool { return len(s) < minSecretLen })
	// Longest first, so a secret that contains another is masked whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, redacted)
		// Messages often quote with %q, which escapes the value.
		if q := strings.Trim(strconv.Quote(secret), `"`); q != secret {
			s = strings.ReplaceAll(s, q, redacted)
		}
	}
	return s
}

// userinfoPassword returns the password of "scheme://user:pass@host" and of
// the scheme-less "user:pass@host" that gRPC endpoints accept, without
// parsing the URL: a value too broken to parse is the one most likely to be
// quoted back in an error.
func userinfoPassword(s string) (string, bool) {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return "", false
	}
	userinfo := s[:at]
	if i := strings.Index(userinfo, "://"); i >= 0 {
		userinfo = userinfo[i+3:]
	}
	_, pass, ok := strings.Cut(userinfo, ":")
	return pass, ok && pass != ""
}
