package saramax

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
)

// ClassifyConnectError turns a sarama error from connecting (NewClient,
// NewConsumerGroup, a first metadata refresh...) into a
// *conn.ConnectError matching conn.ErrAuthentication, conn.ErrTLS or
// conn.ErrUnreachable, with a message naming the setting to check. s are the
// settings the client was built with; they disambiguate what sarama cannot
// tell (see below). Errors that are not about connecting are returned
// unchanged, as are nil and errors already classified.
//
// Brokers that fail SASL by closing the connection (kfake does; some
// proxies do) leave sarama with only "EOF": when SASL is configured such an
// EOF counts as an authentication failure, since a broker that is up but
// closes every fresh connection is almost always refusing the credentials.
func ClassifyConnectError(err error, s conn.Settings) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var already *conn.ConnectError
	if errors.As(err, &already) {
		return err
	}
	classified := func(kind error, format string, args ...any) error {
		return &conn.ConnectError{Kind: kind, Detail: fmt.Sprintf(format, args...), Err: err}
	}
	var tokenErr *tokenError
	switch {
	case errors.As(err, &tokenErr):
		return classified(conn.ErrAuthentication, "SASL OAUTHBEARER: the token source failed, so no broker connection could authenticate")
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return classified(conn.ErrAuthentication, "the broker does not accept SASL mechanism %s", mechanismOf(s))
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed), errors.Is(err, sarama.ErrIllegalSASLState):
		return classified(conn.ErrAuthentication, "SASL authentication as %s was refused by the broker", userOf(s))
	case isRemoteTLSAlert(err):
		return classified(conn.ErrTLS, "the broker rejected the TLS handshake (does it require a client certificate this client does not present or that it does not trust?)")
	case isTLSError(err):
		return classified(conn.ErrTLS, "TLS handshake with the broker failed (is the broker's CA trusted, does its certificate name the address dialled, does the listener speak TLS?)")
	case !isConnectFailure(err):
		return err
	case isBareOutOfBrokers(err) && s.SASL != nil:
		// sarama drops broker error codes met while connecting (such as
		// UNSUPPORTED_SASL_MECHANISM) and keeps only "out of brokers".
		return classified(conn.ErrAuthentication, "SASL authentication as %s failed or was refused by the broker (no reason given; check the mechanism, user and password)", userOf(s))
	case isClosedByPeer(err) && s.SASL != nil:
		return classified(conn.ErrAuthentication, "SASL authentication as %s failed or was refused by the broker (it closed the connection; check the mechanism, user and password)", userOf(s))
	case isClosedByPeer(err) && s.TLS == nil:
		return classified(conn.ErrUnreachable, "the broker closed the connection at once (does its listener expect TLS or SASL?)")
	case isClosedByPeer(err):
		return classified(conn.ErrUnreachable, "the broker closed the connection at once (does its listener expect SASL, or plaintext rather than TLS?)")
	case errors.Is(err, ErrNotKafka):
		return classified(conn.ErrUnreachable, "a listener at the broker address answered, but not as a Kafka broker (check the address and port)")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return classified(conn.ErrUnreachable, "a broker accepted the connection but did not answer within the dial timeout of %v (check the port, that the listener speaks Kafka, and whether it expects TLS)", s.DialTimeout)
	default:
		return classified(conn.ErrUnreachable, "no broker could be reached (check the addresses, the network and that the cluster is up)")
	}
}

// ExplainConnectError is [ClassifyConnectError] for callers that still have
// the brokers and the config, and it is more precise. Two sarama answers say
// too little, so it opens a probe connection (one per seed broker at most,
// each bounded by the dial timeout) to learn more:
//
//   - "out of brokers" with no reason: sarama drops broker error codes met
//     while connecting, such as UNSUPPORTED_SASL_MECHANISM. The probe
//     connects the same way and reports the code.
//   - "EOF" with SASL configured: the broker hung up either on the SASL
//     exchange (bad credentials) or on anything we send (a TLS listener
//     spoken to in plaintext). The probe connects without SASL: if that
//     works, the credentials are at fault; if not, the listener is.
func ExplainConnectError(err error, brokers []string, cfg *sarama.Config, s conn.Settings) error {
	switch {
	case err == nil || cfg == nil || len(brokers) == 0:
	case isBareOutOfBrokers(err):
		if reason := probe(brokers, cfg, s, true); reason != nil {
			return ClassifyConnectError(sarama.Wrap(sarama.ErrOutOfBrokers, reason), s)
		}
	case s.SASL != nil && isConnectFailure(err) && isClosedByPeer(err) && !isTLSError(err):
		if reason := probe(brokers, cfg, s, false); reason != nil && isClosedByPeer(reason) {
			withoutSASL := s
			withoutSASL.SASL = nil
			return ClassifyConnectError(err, withoutSASL)
		}
	}
	return ClassifyConnectError(err, s)
}

// probe connects to the seed brokers in turn (sending ApiVersions, and
// authenticating when withSASL) until one works. It returns nil if one did,
// or the first broker's failure.
func probe(brokers []string, cfg *sarama.Config, s conn.Settings, withSASL bool) error {
	probeCfg := *cfg // a shallow copy is enough: only plain fields change
	probeCfg.Net.ReadTimeout = s.DialTimeout
	probeCfg.Net.WriteTimeout = s.DialTimeout
	probeCfg.Net.SASL.Enable = probeCfg.Net.SASL.Enable && withSASL
	var first error
	for _, addr := range brokers {
		b := sarama.NewBroker(addr)
		if err := b.Open(&probeCfg); err != nil {
			return err
		}
		_, reason := b.Connected() // waits for Open's handshake to finish
		_ = b.Close()
		if reason == nil {
			return nil
		}
		if first == nil {
			first = reason
		}
	}
	return first
}

// isBareOutOfBrokers: sarama's "out of brokers" without any broker's
// error, possibly wrapped by the caller.
func isBareOutOfBrokers(err error) bool {
	if !errors.Is(err, sarama.ErrOutOfBrokers) {
		return false
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e == sarama.ErrOutOfBrokers || e.Error() == sarama.ErrOutOfBrokers.Error() {
			return true
		}
	}
	return false
}

func isConnectFailure(err error) bool {
	var op *net.OpError
	return errors.Is(err, sarama.ErrOutOfBrokers) ||
		errors.Is(err, sarama.ErrNotConnected) ||
		(errors.As(err, &op) && op.Op == "dial")
}

func isClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTLSError(err error) bool {
	var (
		verify     *tls.CertificateVerificationError
		authority  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		header     tls.RecordHeaderError
		localAlert tls.AlertError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &header) || errors.As(err, &localAlert)
}

// isRemoteTLSAlert: crypto/tls reports an alert sent by the peer as a
// net.OpError with this Op and an unexported alert type.
func isRemoteTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

func userOf(s conn.Settings) string {
	if s.SASL == nil {
		return "(no SASL configured)"
	}
	return s.SASL.String()
}

func mechanismOf(s conn.Settings) string {
	if s.SASL == nil {
		return "(none configured)"
	}
	return s.SASL.Mechanism
}
