package testbed

import (
	"testing"

	"github.com/acceltel/acceltel/internal/pkitest"
)

// PKI is the testbed's certificate authority (internal/pkitest).
type PKI = pkitest.PKI

// CertPair names the PEM files of one certificate and its key.
type CertPair = pkitest.CertPair

// NewPKI creates a CA valid for a day in a temporary directory of the test.
func NewPKI(t testing.TB) *PKI { return pkitest.New(t) }
