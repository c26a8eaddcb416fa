package bulwark_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/stretchr/testify/assert"
)

func TestClassOf(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bulwark.Class
	}{
		{"unknown error is retryable", io.ErrUnexpectedEOF, bulwark.ClassRetryable},
		{"permanent", bulwark.Permanent(io.EOF), bulwark.ClassPermanent},
		{"wrapped permanent", fmt.Errorf("decode: %w", bulwark.Permanent(io.EOF)), bulwark.ClassPermanent},
		{"retryable", bulwark.Retryable(io.EOF), bulwark.ClassRetryable},
		{"retryable overrides inner permanent", bulwark.Retryable(bulwark.Permanent(io.EOF)), bulwark.ClassRetryable},
		{"pause", bulwark.Pause(io.EOF, time.Second), bulwark.ClassPause},
		{"permanentf", bulwark.Permanentf("bad %d", 1), bulwark.ClassPermanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, bulwark.ClassOf(tc.err))
		})
	}
}

func TestClassSentinelsAndUnwrap(t *testing.T) {
	err := fmt.Errorf("ctx: %w", bulwark.Permanent(io.EOF))
	assert.ErrorIs(t, err, bulwark.ErrPermanent)
	assert.ErrorIs(t, err, io.EOF, "the original error stays reachable")
	assert.NotErrorIs(t, err, bulwark.ErrRetryable)
	assert.NotErrorIs(t, err, bulwark.ErrPause)

	p := bulwark.Pause(io.EOF, 3*time.Second)
	assert.ErrorIs(t, p, bulwark.ErrPause)
	d, ok := bulwark.PauseDelay(fmt.Errorf("wrapped: %w", p))
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	_, ok = bulwark.PauseDelay(io.EOF)
	assert.False(t, ok)

	assert.Equal(t, "EOF", bulwark.Permanent(io.EOF).Error())
	var ce *bulwark.ClassError
	assert.True(t, errors.As(err, &ce))
}

func TestNilStaysNil(t *testing.T) {
	assert.NoError(t, bulwark.Permanent(nil))
	assert.NoError(t, bulwark.Retryable(nil))
	assert.NoError(t, bulwark.Pause(nil, time.Second))
}

func TestClassString(t *testing.T) {
	assert.Equal(t, "permanent", bulwark.ClassPermanent.String())
	assert.Equal(t, "retryable", bulwark.ClassRetryable.String())
	assert.Equal(t, "pause", bulwark.ClassPause.String())
}

// Fencing is the instance's fault, not the record's: pause-class, so the
// record is kept; a class declared around it still wins.
func TestErrFencedIsPauseClass(t *testing.T) {
	fenced := fmt.Errorf("commit: %w", bulwark.ErrFenced)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(bulwark.ErrFenced))
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(fenced))
	assert.ErrorIs(t, fenced, bulwark.ErrFenced)
	assert.NotErrorIs(t, fenced, bulwark.ErrPause, "the class is ClassOf's answer, not a wrapper")
	assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(bulwark.Permanent(fenced)))
	d, ok := bulwark.PauseDelay(fenced)
	assert.False(t, ok, "no declared delay: the consumer's default applies")
	assert.Zero(t, d)
	assert.NotErrorIs(t, bulwark.ErrClosed, bulwark.ErrFenced)
}
