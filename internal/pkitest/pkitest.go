// Package pkitest is a throwaway certificate authority for tests of TLS
// listeners and clients: the testbed's collectors, Kafka and OIDC issuer,
// and the S3 server of internal/s3test.
package pkitest // import "github.com/acceltel/acceltel/internal/pkitest"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is a certificate authority whose files are written to one
// directory (a test's temp dir).
type PKI struct {
	Dir    string
	CAFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	mu     sync.Mutex
	serial int64
}

// CertPair names the PEM files of one certificate and its key.
type CertPair struct {
	CertFile, KeyFile string
}

// New creates a CA valid for a day in a temporary directory of the test.
func New(t testing.TB) *PKI {
	t.Helper()
	p, err := NewAt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// NewAt creates a CA valid for a day in dir, for what lives longer than
// one test (the testbed's Kafka brokers) or has its own directory.
func NewAt(dir string) (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "acceltel test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, ca: ca, caKey: key, serial: 1}
	p.CAFile = filepath.Join(p.Dir, "ca.pem")
	return p, writePEMFile(p.CAFile, "CERTIFICATE", der)
}

// Server issues a certificate for 127.0.0.1 and localhost.
func (p *PKI) Server(t testing.TB, name string) CertPair {
	return p.issue(t, name, x509.ExtKeyUsageServerAuth, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// Client issues a client certificate (for mTLS).
func (p *PKI) Client(t testing.TB, name string) CertPair {
	return p.issue(t, name, x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

// Expired issues a server and client certificate whose validity ended an hour ago.
func (p *PKI) Expired(t testing.TB, name string) CertPair {
	return p.issue(t, name, x509.ExtKeyUsageAny, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
}

// Pool is a cert pool that trusts the CA.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// ClientTLS is a tls.Config that trusts the CA and presents pair when given.
func (p *PKI) ClientTLS(t testing.TB, pair *CertPair) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.Pool(), MinVersion: tls.VersionTLS12}
	if pair != nil {
		cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func (p *PKI) issue(t testing.TB, name string, usage x509.ExtKeyUsage, notBefore, notAfter time.Time) CertPair {
	t.Helper()
	pair, err := p.issueAt(name, usage, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// IssueServer is Server outside a test: a server certificate for
// 127.0.0.1, localhost and name, valid for a day.
func (p *PKI) IssueServer(name string) (CertPair, error) {
	return p.issueAt(name, x509.ExtKeyUsageServerAuth, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
}

func (p *PKI) issueAt(name string, usage x509.ExtKeyUsage, notBefore, notAfter time.Time) (CertPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertPair{}, err
	}
	p.mu.Lock()
	p.serial++
	serial := p.serial
	p.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost", name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return CertPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return CertPair{}, err
	}
	pair := CertPair{CertFile: filepath.Join(p.Dir, name+".pem"), KeyFile: filepath.Join(p.Dir, name+"-key.pem")}
	if err := writePEMFile(pair.CertFile, "CERTIFICATE", der); err != nil {
		return CertPair{}, err
	}
	return pair, writePEMFile(pair.KeyFile, "PRIVATE KEY", keyDER)
}

func writePEMFile(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
