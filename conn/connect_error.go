package conn

import (
	"errors"
	"strings"

	"github.com/bulwarkgo/bulwark"
)

// Why a client could not talk to the cluster. A [*ConnectError] matches
// exactly one of them with errors.Is.
var (
	// ErrAuthentication: SASL authentication failed or the broker refused
	// the mechanism. Retrying with the same settings does not help.
	ErrAuthentication = errors.New("conn: authentication failed")
	// ErrTLS: the TLS handshake failed (untrusted or mismatching
	// certificate, TLS spoken to a plaintext listener or the reverse).
	// Retrying with the same settings does not help.
	ErrTLS = errors.New("conn: TLS handshake failed")
	// ErrUnreachable: no broker answered (wrong address, network down,
	// cluster starting). This one may go away by itself.
	ErrUnreachable = errors.New("conn: no broker reachable")
)

// ConnectError explains why the brokers could not be reached or refused
// the client. The producer, consumer and eos packages return it from New or
// Run when connecting fails.
type ConnectError struct {
	// Kind is [ErrAuthentication], [ErrTLS] or [ErrUnreachable].
	Kind error
	// Detail says what failed in words that point at the setting to check,
	// e.g. "SASL authentication as alice (SCRAM-SHA-512) failed or was
	// refused by the broker".
	Detail string
	// Err is the Kafka client's own error.
	Err error
}

// Error reads as one line: the client's error often joins one failure per
// broker attempt ("EOF\nEOF\nEOF"), which says nothing more three times.
func (e *ConnectError) Error() string {
	if e.Err == nil {
		return e.Detail
	}
	return e.Detail + ": " + oneLine(e.Err.Error())
}

// oneLine joins the lines of msg with "; ", each distinct line once.
func oneLine(msg string) string {
	if !strings.Contains(msg, "\n") {
		return msg
	}
	var lines []string
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// Unwrap returns the kind and the client's error, so errors.Is matches
// both, e.g. conn.ErrAuthentication.
func (e *ConnectError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Retryable reports whether trying again with the same settings can
// succeed: only for [ErrUnreachable]. A caller that gets an
// authentication or TLS failure from New or Run should stop and report
// it.
func (e *ConnectError) Retryable() bool { return e.Kind == ErrUnreachable }

// ErrorClass makes [bulwark.ClassOf] return [bulwark.ClassPause] for every
// kind, for a handler that returns the error of a client it uses: none of
// them is the record's fault, so the record must not use up its attempts
// and be dead-lettered (as a retryable error would) or be dead-lettered at
// once (as a permanent one would). Its partition pauses, visibly, until
// the cluster is reachable again or the credentials or certificates are
// fixed.
func (e *ConnectError) ErrorClass() bulwark.Class { return bulwark.ClassPause }
