package producer_test

import (
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
)

// Each kind matches its own sentinel only; fenced is the root's one
// fencing sentinel.
func TestTxnErrorMatchesItsKind(t *testing.T) {
	cause := errors.New("cause")
	for _, c := range []struct {
		kind producer.TxnKind
		name string
		is   error
	}{
		{producer.TxnAbortable, "abortable", producer.ErrAbortable},
		{producer.TxnFenced, "fenced", bulwark.ErrFenced},
		{producer.TxnFatal, "fatal", producer.ErrFatal},
	} {
		err := &producer.TxnError{Kind: c.kind, Err: cause}
		assert.Equal(t, c.name, c.kind.String())
		assert.ErrorIs(t, err, c.is, c.name)
		assert.ErrorIs(t, err, cause, c.name)
		for _, other := range []error{producer.ErrAbortable, bulwark.ErrFenced, producer.ErrFatal} {
			if other != c.is {
				assert.NotErrorIs(t, err, other, c.name)
			}
		}
	}
	assert.Equal(t, "TxnKind(7)", producer.TxnKind(7).String())
	assert.Same(t, bulwark.ErrFenced, producer.ErrFenced)
}
