// Package connfaults holds the connection faults of the fault matrix
// (issue 17) that the producer, consumer and eos tests each run their
// component against: brokers that never answer, answer garbage or hold a
// TLS handshake, and a cluster that refuses the credentials. Each case
// says what typed error connecting must end with; the tests assert the
// bound.
package connfaults

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// Timeouts every case connects with, so that a bound is reached fast:
// each broker connection's set-up gets DialTimeout, connecting at start
// ConnectTimeout.
const (
	DialTimeout    = time.Second
	ConnectTimeout = 4 * time.Second
	// Bound is what a test allows connecting to take before it must have
	// failed: the connect timeout with room for a loaded machine.
	Bound = ConnectTimeout + 4*time.Second
)

// Case is one connection fault.
type Case struct {
	Name    string
	Brokers []string
	Opts    []conn.Option
	// Kind is what the *conn.ConnectError must match.
	Kind error
}

// Cases starts what the faults need (listeners, a SASL cluster) for t.
func Cases(t testing.TB) []Case {
	timeouts := []conn.Option{conn.WithDialTimeout(DialTimeout), conn.WithConnectTimeout(ConnectTimeout)}
	with := func(opts ...conn.Option) []conn.Option {
		return append(append([]conn.Option(nil), timeouts...), opts...)
	}
	sasl := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithSASLUser("SCRAM-SHA-512", "alice", "s3cret"))
	return []Case{
		{Name: "listener accepts, never answers", Brokers: []string{kafkatest.NeverAnswering(t)}, Opts: with(), Kind: conn.ErrUnreachable},
		{Name: "listener answers garbage", Brokers: []string{kafkatest.AnswersGarbage(t)}, Opts: with(), Kind: conn.ErrUnreachable},
		{
			Name: "TLS to a port that holds the connection", Brokers: []string{kafkatest.NeverAnswering(t)},
			Opts: with(conn.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12})), Kind: conn.ErrUnreachable,
		},
		{Name: "nothing listening", Brokers: []string{"127.0.0.1:1"}, Opts: with(), Kind: conn.ErrUnreachable},
		{
			Name: "wrong SASL password", Brokers: sasl.Brokers(),
			Opts: with(conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "wrong")), Kind: conn.ErrAuthentication,
		},
	}
}

// Check reports what is wrong with err as the end of connecting for c, or
// nil: a *conn.ConnectError of c's kind, pause-class for a handler that
// meets it, reading as one line.
func Check(c Case, err error) error {
	var ce *conn.ConnectError
	switch {
	case err == nil:
		return errors.New("no error")
	case !errors.As(err, &ce):
		return errors.New("not a *conn.ConnectError: " + err.Error())
	case !errors.Is(err, c.Kind):
		return errors.New("wrong kind: " + err.Error())
	case bulwark.ClassOf(err) != bulwark.ClassPause:
		return errors.New("not pause-class: " + bulwark.ClassOf(err).String())
	case strings.Contains(err.Error(), "\n"):
		return errors.New("spans lines: " + err.Error())
	}
	return nil
}

// Run runs connect against every case, one parallel subtest each, and
// asserts that it fails within [Bound] as [Check] says, reporting each
// cell of the matrix for component ("producer.New", "consumer.Run"...).
func Run(t *testing.T, component string, connect func(c Case) error) {
	for _, c := range Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			faultmatrix.Report(t, faultmatrix.Cell{
				Fault: c.Name, Component: component, Bound: "fails within " + Bound.String(),
				Outcome: "*conn.ConnectError (" + c.Kind.Error() + "), pause-class, one line",
			})
			t.Parallel()
			start := time.Now()
			err := connect(c)
			took := time.Since(start)
			if cerr := Check(c, err); cerr != nil {
				t.Error(cerr)
			}
			if took >= Bound {
				t.Errorf("took %v, bound %v", took, Bound)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

// RunContextEnds runs connect with a context that ends after a second,
// against a listener that never answers and the default timeouts (a 10 s
// dial timeout), and asserts that it returns within margin of the
// context's end with a *conn.ConnectError that matches the context's
// error too.
func RunContextEnds(t *testing.T, component string, margin time.Duration, connect func(ctx context.Context, brokers []string) error) {
	t.Run("context ends while connecting", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "context ends while connecting to a listener that never answers", Component: component,
			Bound:   "returns within " + margin.String() + " of the context's end (dial timeout 10 s)",
			Outcome: "*conn.ConnectError matching the context's error",
		})
		t.Parallel()
		const wait = time.Second
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		start := time.Now()
		err := connect(ctx, []string{kafkatest.NeverAnswering(t)})
		took := time.Since(start)
		var ce *conn.ConnectError
		if !errors.As(err, &ce) || !errors.Is(err, conn.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want a *conn.ConnectError matching conn.ErrUnreachable and context.DeadlineExceeded", err)
		}
		if took >= wait+margin {
			t.Errorf("took %v, bound %v", took, wait+margin)
		}
	})
}
