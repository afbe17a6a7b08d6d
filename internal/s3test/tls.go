package s3test // import "github.com/acceltel/acceltel/internal/s3test"

import (
	"crypto/tls"
	"net/http"

	"github.com/acceltel/acceltel/internal/pkitest"
)

// makeCertificates makes a CA in the server's directory and a server
// certificate for 127.0.0.1 signed by it.
func (s *Server) makeCertificates() error {
	ca, err := pkitest.NewAt(s.root)
	if err != nil {
		return err
	}
	pair, err := ca.IssueServer("s3test")
	if err != nil {
		return err
	}
	s.CAFile, s.certFile, s.keyFile = ca.CAFile, pair.CertFile, pair.KeyFile
	s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	return nil
}

// httpClient is what the helpers talk to the server with: it trusts the
// CA of a StartTLS server.
func (s *Server) httpClient() *http.Client {
	if s.http != nil {
		return s.http
	}
	return http.DefaultClient
}
