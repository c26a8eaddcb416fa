package conn

import "errors"

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

func (e *ConnectError) Error() string {
	if e.Err == nil {
		return e.Detail
	}
	return e.Detail + ": " + e.Err.Error()
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
// succeed: only for [ErrUnreachable].
func (e *ConnectError) Retryable() bool { return e.Kind == ErrUnreachable }
