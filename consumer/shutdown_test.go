package consumer

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// stopSlack is what the tests allow beyond grace + StopMargin for
// scheduling on a loaded machine.
const stopSlack = time.Second

// With every connection cut, Run returns within the grace period plus
// StopMargin after ctx is cancelled: final commits and leaving the group
// get a bounded attempt, whatever the network does.
func TestRunStopsInBoundedTimeWhenConnectionsAreCut(t *testing.T) {
	for name, tc := range map[string]struct {
		cut func(d *kafkatest.Dialer, f *freezingDialer)
		// a handler that ignores its context holds one record forever
		stubborn bool
	}{
		"dials refused":                {cut: func(d *kafkatest.Dialer, _ *freezingDialer) { d.Kill() }},
		"network hangs, stuck handler": {cut: func(_ *kafkatest.Dialer, f *freezingDialer) { f.freeze() }, stubborn: true},
	} {
		t.Run(name, func(t *testing.T) {
			cl := newCluster(t, map[string]int32{"in": 3})
			produce(t, cl, "in", 60, func(i int) string { return "k" + strconv.Itoa(i) })
			unblock := make(chan struct{})
			t.Cleanup(func() { close(unblock) })
			stuck := make(chan struct{}, 1)
			rec := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
				if tc.stubborn && string(msg.Value) == "v59" {
					stuck <- struct{}{}
					<-unblock // ignores its context
				}
				return nil
			})
			killable := kafkatest.NewDialer()
			freezing := newFreezingDialer(killable, unblock)
			const grace = 2 * time.Second
			c, err := New(cl.Brokers(), "g-cut", []string{"in"}, rec,
				fastOpts(cl, WithGracePeriod(grace), WithConnection(conn.WithDialer(freezing)))...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			waitFor(t, 20*time.Second, "60 records", func() bool { return rec.distinct() == 60 })
			if tc.stubborn {
				<-stuck
			}
			tc.cut(killable, freezing)
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			cancel()
			bound := grace + StopMargin
			select {
			case err := <-done:
				took := time.Since(start)
				if took > bound+stopSlack {
					t.Fatalf("Run returned after %v, want within %v", took, bound)
				}
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				t.Logf("Run returned after %v (bound %v)", took, bound)
			case <-time.After(60 * time.Second):
				t.Fatalf("Run did not return within 60s of cancel (bound %v)", bound)
			}
		})
	}
}

// freezingDialer dials through base until frozen; then its connections
// hang as behind a dead network path: reads block, writes vanish, new dials
// block, until unblock closes or the connection is closed.
type freezingDialer struct {
	base    conn.Dialer
	unblock <-chan struct{}
	frozen  chan struct{}
}

func newFreezingDialer(base conn.Dialer, unblock <-chan struct{}) *freezingDialer {
	return &freezingDialer{base: base, unblock: unblock, frozen: make(chan struct{})}
}

func (f *freezingDialer) freeze() { close(f.frozen) }

func (f *freezingDialer) Dial(network, addr string) (net.Conn, error) {
	select {
	case <-f.frozen:
		<-f.unblock
		return nil, errors.New("dial timed out")
	default:
	}
	c, err := f.base.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	fc := &freezableConn{Conn: c, frozen: f.frozen, closed: make(chan struct{})}
	return fc, nil
}

type freezableConn struct {
	net.Conn
	frozen    <-chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *freezableConn) Read(b []byte) (int, error) {
	type result struct {
		n   int
		err error
	}
	select {
	case <-c.frozen:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	// A read in progress when the path freezes must hang too: read into
	// a goroutine and drop what arrives after the freeze.
	res := make(chan result, 1)
	buf := make([]byte, len(b))
	go func() {
		n, err := c.Conn.Read(buf)
		res <- result{n, err}
	}()
	select {
	case r := <-res:
		select {
		case <-c.frozen:
		default:
			copy(b, buf[:r.n])
			return r.n, r.err
		}
	case <-c.frozen:
	}
	<-c.closed
	return 0, net.ErrClosed
}

func (c *freezableConn) Write(b []byte) (int, error) {
	select {
	case <-c.frozen:
		return len(b), nil
	case <-c.closed:
		return 0, net.ErrClosed
	default:
		return c.Conn.Write(b)
	}
}

func (c *freezableConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
