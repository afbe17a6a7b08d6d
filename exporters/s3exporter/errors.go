package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"sync"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.uber.org/zap"
)

// Failure reasons, the values of the reason attribute of
// acceltel.exporter.s3.failures.
const (
	reasonAccessDenied       = "access_denied"
	reasonNoSuchBucket       = "no_such_bucket"
	reasonInvalidCredentials = "invalid_credentials"
	reasonUnreachable        = "unreachable"
	reasonTLS                = "tls"
	reasonEncode             = "encode"
	reasonIO                 = "io"
	reasonOther              = "other"
)

// hints say what an operator should check while the data waits in the
// queue.
var hints = map[string]string{
	reasonAccessDenied:       "the credentials may not put objects there (s3:PutObject, and kms:GenerateDataKey with SSE-KMS), or the folder is not writable",
	reasonNoSuchBucket:       "the bucket does not exist (or is in another region or account)",
	reasonInvalidCredentials: "the access key is unknown, the secret or token wrong or expired, or no credentials were found",
	reasonUnreachable:        "the endpoint does not answer (address, port, DNS, proxy)",
	reasonTLS:                "the endpoint's certificate is not trusted (tls.ca_file names its CA), has expired, or does not name the endpoint's host",
	reasonIO:                 "writing to the local folder failed (disk full, read-only, quota)",
	reasonOther:              "the write failed (see the error)",
}

var apiErrorReasons = map[string]string{
	"AccessDenied":          reasonAccessDenied,
	"AllAccessDisabled":     reasonAccessDenied,
	"AccountProblem":        reasonAccessDenied,
	"KMS.AccessDenied":      reasonAccessDenied,
	"NoSuchBucket":          reasonNoSuchBucket,
	"InvalidAccessKeyId":    reasonInvalidCredentials,
	"SignatureDoesNotMatch": reasonInvalidCredentials,
	"ExpiredToken":          reasonInvalidCredentials,
	"InvalidToken":          reasonInvalidCredentials,
	"TokenRefreshRequired":  reasonInvalidCredentials,
}

// classify names why a write failed. Concrete types only: syscall.Errno
// satisfies net.Error too, which would make every file system error look
// like a network outage.
func classify(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if r, ok := apiErrorReasons[apiErr.ErrorCode()]; ok {
			return r
		}
		return reasonOther
	}
	var signErr *v4.SigningError
	if errors.As(err, &signErr) {
		return reasonInvalidCredentials
	}
	var certErr *tls.CertificateVerificationError
	var authErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) {
		return reasonTLS
	}
	var sendErr *smithyhttp.RequestSendError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &sendErr) || errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.Is(err, context.DeadlineExceeded) {
		return reasonUnreachable
	}
	if errors.Is(err, fs.ErrPermission) {
		return reasonAccessDenied
	}
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	if errors.As(err, &pathErr) || errors.As(err, &linkErr) {
		return reasonIO
	}
	return reasonOther
}

// alarm logs each operator-fixable condition once, with the destination,
// instead of once per retry, and says when writes work again.
type alarm struct {
	logger *zap.Logger
	where  string
	mu     sync.Mutex
	raised map[string]bool
}

func newAlarm(logger *zap.Logger, where string) *alarm {
	return &alarm{logger: logger, where: where, raised: map[string]bool{}}
}

func (a *alarm) failed(reason string, err error) {
	hint, retried := hints[reason]
	if !retried {
		// Encoding failures drop the batch; exporterhelper logs each.
		return
	}
	a.mu.Lock()
	first := !a.raised[reason]
	a.raised[reason] = true
	a.mu.Unlock()
	if first {
		a.logger.Error("Cannot write to "+a.where+": "+hint+". The data is kept and retried; this is logged once until a write succeeds.",
			zap.String("reason", reason), zap.Error(err))
	}
}

func (a *alarm) succeeded() {
	a.mu.Lock()
	had := len(a.raised) > 0
	clear(a.raised)
	a.mu.Unlock()
	if had {
		a.logger.Info("Writing to " + a.where + " works again.")
	}
}
