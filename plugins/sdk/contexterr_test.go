package sdk

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gRPC can report a deadline as a status before the caller's context is
// Done; such an error must still read as a timeout.
func TestContextError(t *testing.T) {
	err := contextError(status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM with error code: CANCEL"))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "RST_STREAM")
	assert.ErrorIs(t, contextError(status.Error(codes.Canceled, "x")), context.Canceled)
	other := status.Error(codes.Unavailable, "plugin gone")
	assert.Equal(t, other, contextError(other))
	assert.False(t, errors.Is(contextError(other), context.DeadlineExceeded))
}
