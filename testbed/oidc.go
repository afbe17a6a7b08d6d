package testbed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// OIDCIssuer is an OpenID Connect provider reduced to what a relying party
// such as the collector's oidc extension fetches: the discovery document
// and the JWKS, over HTTPS with a certificate from its own PKI.
type OIDCIssuer struct {
	// URL is the issuer identifier, the iss of its tokens and the base of
	// its discovery document.
	URL string
	// CAFile is the CA of its certificate (the extension's issuer_ca_path).
	CAFile string
	// Audience is the aud of its tokens unless an option says otherwise.
	Audience string
	key      *rsa.PrivateKey
	// other signs tokens under the same key id as key, so that only the
	// signature tells them apart.
	other *rsa.PrivateKey
}

const oidcKeyID = "testbed"

// StartOIDCIssuer serves an issuer of RS256 ID tokens for audience until
// the test ends.
func StartOIDCIssuer(t testing.TB, audience string) *OIDCIssuer {
	t.Helper()
	pki := NewPKI(t)
	pair := pki.Server(t, "oidc-issuer")
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	iss := &OIDCIssuer{CAFile: pki.CAFile, Audience: audience}
	for _, k := range []**rsa.PrivateKey{&iss.key, &iss.other} {
		if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &iss.key.PublicKey, KeyID: oidcKeyID, Algorithm: string(jose.RS256), Use: "sig",
		}}})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// TokenOption makes a token wrong in one way.
type TokenOption func(*tokenSpec)

type tokenSpec struct {
	claims   jwt.Claims
	otherKey bool
}

// TokenAudience issues the token for another audience.
func TokenAudience(aud string) TokenOption {
	return func(s *tokenSpec) { s.claims.Audience = jwt.Audience{aud} }
}

// TokenIssuer claims another issuer.
func TokenIssuer(iss string) TokenOption {
	return func(s *tokenSpec) { s.claims.Issuer = iss }
}

// TokenExpired issues a token whose validity ended a minute ago.
func TokenExpired() TokenOption {
	return func(s *tokenSpec) {
		now := time.Now()
		s.claims.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
		s.claims.Expiry = jwt.NewNumericDate(now.Add(-time.Minute))
	}
}

// TokenSignedByOtherKey signs with a key the JWKS does not publish.
func TokenSignedByOtherKey() TokenOption {
	return func(s *tokenSpec) { s.otherKey = true }
}

// Token mints an ID token for subject, valid for ten minutes unless opts
// say otherwise.
func (i *OIDCIssuer) Token(t testing.TB, subject string, opts ...TokenOption) string {
	t.Helper()
	now := time.Now()
	s := tokenSpec{
		claims: jwt.Claims{
			Issuer:   i.URL,
			Audience: jwt.Audience{i.Audience},
			Subject:  subject,
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(10 * time.Minute)),
		},
	}
	for _, o := range opts {
		o(&s)
	}
	key := i.key
	if s.otherKey {
		key = i.other
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: oidcKeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(s.claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
