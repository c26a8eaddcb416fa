package joinerr_test

import (
	"errors"
	"io"
	"testing"

	"github.com/bulwarkgo/bulwark/internal/joinerr"
)

func TestJoinReadsAsOneLine(t *testing.T) {
	inner := errors.Join(io.EOF, io.ErrUnexpectedEOF)
	err := joinerr.Join(nil, errors.New("first"), inner)
	if got, want := err.Error(), "first; EOF; unexpected EOF"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !errors.Is(err, io.EOF) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal("the joined errors must stay matchable")
	}
	if joinerr.Join(nil, nil) != nil {
		t.Fatal("no errors: nil")
	}
}
