package dedup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func msg(id string) *bulwark.Message {
	m := &bulwark.Message{Topic: "orders", Partition: 1, Offset: 7}
	if id != "" {
		m.SetHeader(bulwark.HeaderMessageID, []byte(id))
	}
	return m
}

func memory(t *testing.T) *dedup.Memory {
	st, err := dedup.NewMemory()
	require.NoError(t, err)
	return st
}

// harness wires a Deduplicator with a metric reader and a debug log.
type harness struct {
	d      *dedup.Deduplicator
	reader *sdkmetric.ManualReader
	log    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newHarness(t *testing.T, st dedup.Store, opts ...dedup.Option) *harness {
	h := &harness{reader: sdkmetric.NewManualReader(), log: &syncBuffer{}}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := dedup.New(st, append([]dedup.Option{dedup.WithMeterProvider(mp), dedup.WithLogger(logger)}, opts...)...)
	require.NoError(t, err)
	h.d = d
	return h
}

// count returns the sum of the counter name's points whose attributes
// include kv (all points when kv is empty).
func (h *harness) count(t *testing.T, name string, kv ...attribute.KeyValue) int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				match := true
				for _, want := range kv {
					if got, ok := dp.Attributes.Value(want.Key); !ok || got != want.Value {
						match = false
					}
				}
				if match {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// counting is a handler that counts its runs and can be told to fail.
type counting struct {
	runs atomic.Int32
	fail func(n int32) error
}

func (c *counting) Handle(context.Context, *bulwark.Message) error {
	n := c.runs.Add(1)
	if c.fail != nil {
		return c.fail(n)
	}
	return nil
}

func TestDuplicatesAreSkippedAndCountAsFinished(t *testing.T) {
	h := newHarness(t, memory(t))
	var c counting
	handler := h.d.Wrap(&c)
	for range 3 {
		require.NoError(t, handler.Handle(context.Background(), msg("id-1")))
	}
	require.NoError(t, handler.Handle(context.Background(), msg("id-2")))
	assert.EqualValues(t, 2, c.runs.Load())
	assert.EqualValues(t, 2, h.count(t, dedup.MetricDuplicates))
	assert.EqualValues(t, 2, h.count(t, dedup.MetricClaims, attribute.String("dedup.outcome", "acquired")))
	assert.EqualValues(t, 2, h.count(t, dedup.MetricClaims, attribute.String("dedup.outcome", "duplicate")))
	assert.Contains(t, h.log.String(), "duplicate skipped")
	assert.Contains(t, h.log.String(), "key=id-1")
}

// Message IDs are opaque keys: records carrying the producer's old form
// (a UUID's 36-character text) and its compact one (the same 16 bytes in
// 22 characters of base64url) are each deduplicated by their own ID, and
// the two forms of one UUID do not collide with each other.
func TestOldAndCompactMessageIDsAreBothKeys(t *testing.T) {
	h := newHarness(t, memory(t))
	var c counting
	handler := h.d.Wrap(&c)
	const old, compact = "6f1c2a3b-4d5e-4f60-8172-839405a6b7c8", "bxwqO01eT2CBcoOUBaa3yA"
	for range 2 {
		require.NoError(t, handler.Handle(context.Background(), msg(old)))
		require.NoError(t, handler.Handle(context.Background(), msg(compact)))
	}
	assert.EqualValues(t, 2, c.runs.Load(), "each ID handled once")
	assert.EqualValues(t, 2, h.count(t, dedup.MetricDuplicates))
	assert.Contains(t, h.log.String(), "key="+compact)
}

func TestFailedAttemptIsNotMarkedSeen(t *testing.T) {
	h := newHarness(t, memory(t))
	boom := errors.New("boom")
	c := counting{fail: func(n int32) error {
		if n == 1 {
			return bulwark.Permanent(boom)
		}
		return nil
	}}
	handler := h.d.Wrap(&c)
	err := handler.Handle(context.Background(), msg("id"))
	assert.ErrorIs(t, err, boom, "the handler's error comes back unchanged")
	assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(err))
	require.NoError(t, handler.Handle(context.Background(), msg("id")), "redelivery runs the handler again")
	require.NoError(t, handler.Handle(context.Background(), msg("id")))
	assert.EqualValues(t, 2, c.runs.Load())
}

func TestPanicReleasesTheKey(t *testing.T) {
	h := newHarness(t, memory(t), dedup.WithLease(time.Hour))
	var runs int
	handler := h.d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		runs++
		if runs == 1 {
			panic("handler bug")
		}
		return nil
	}))
	assert.PanicsWithValue(t, "handler bug", func() { _ = handler.Handle(context.Background(), msg("id")) })
	require.NoError(t, handler.Handle(context.Background(), msg("id")), "no hour-long wait for the lease")
	assert.Equal(t, 2, runs)
}

// A record from a producer that sets no message ID is keyed by its
// position by default: processed once, never dead-lettered, and a
// redelivery of the same offset is a duplicate.
func TestRecordWithoutMessageIDGetsTheOffsetKey(t *testing.T) {
	var c counting
	h := newHarness(t, memory(t))
	var keys []string
	handler := h.d.Wrap(bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		l, _ := dedup.LeaseFrom(ctx)
		keys = append(keys, l.Key)
		return c.Handle(ctx, m)
	}))
	for range 2 {
		require.NoError(t, handler.Handle(context.Background(), msg("")))
	}
	other := msg("")
	other.Offset++
	require.NoError(t, handler.Handle(context.Background(), other))
	assert.EqualValues(t, 2, c.runs.Load(), "the redelivery of offset 7 was dropped, offset 8 ran")
	assert.Equal(t, []string{"offset:orders/1/7", "offset:orders/1/8"}, keys)
	assert.EqualValues(t, 1, h.count(t, dedup.MetricDuplicates))
	require.NoError(t, handler.Handle(context.Background(), msg("id-1")))
	assert.EqualValues(t, 3, h.count(t, dedup.MetricFallbackKeys), "records with a message ID are not counted")
}

func TestFallbackKeyFunc(t *testing.T) {
	var c counting
	byKey := dedup.WithFallbackKeyFunc(func(m *bulwark.Message) string { return "k:" + string(m.Key) })
	h := newHarness(t, memory(t), byKey)
	a, b := msg(""), msg("")
	a.Key, b.Key, b.Offset = []byte("order-1"), []byte("order-1"), 99
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), a))
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), b))
	assert.EqualValues(t, 1, c.runs.Load(), "the fallback key, not the offset, decides")
	keyed := msg("id-1")
	keyed.Key = []byte("order-1")
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), keyed))
	assert.EqualValues(t, 2, c.runs.Load(), "a message ID still comes first")
}

// Without a fallback a record with no key is dead-lettered (or, with
// WithAllowUnkeyed, passed through), as before fallback keys existed.
func TestRecordWithoutAnyKey(t *testing.T) {
	var c counting
	for name, fallback := range map[string]dedup.Option{
		"nil":   dedup.WithFallbackKeyFunc(nil),
		"empty": dedup.WithFallbackKeyFunc(func(*bulwark.Message) string { return "" }),
	} {
		h := newHarness(t, memory(t), fallback)
		err := h.d.Wrap(&c).Handle(context.Background(), msg(""))
		assert.ErrorIs(t, err, dedup.ErrNoKey, name)
		assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(err), "dead-lettered, never silently skipped")
		assert.EqualValues(t, 0, c.runs.Load())
	}

	pass := newHarness(t, memory(t), dedup.WithFallbackKeyFunc(nil), dedup.WithAllowUnkeyed())
	for range 2 {
		require.NoError(t, pass.d.Wrap(&c).Handle(context.Background(), msg("")))
	}
	assert.EqualValues(t, 2, c.runs.Load(), "unkeyed records pass through unprotected")
	assert.EqualValues(t, 2, pass.count(t, dedup.MetricUnkeyed))
}

func TestKeyFunc(t *testing.T) {
	var c counting
	h := newHarness(t, memory(t), dedup.WithKeyFunc(func(m *bulwark.Message) string { return string(m.Key) }))
	a, b := msg("id-1"), msg("id-2")
	a.Key, b.Key = []byte("order-9"), []byte("order-9")
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), a))
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), b))
	assert.EqualValues(t, 1, c.runs.Load(), "same business key, different message IDs")
}

func TestLeaseFrom(t *testing.T) {
	_, ok := dedup.LeaseFrom(context.Background())
	assert.False(t, ok)
	h := newHarness(t, memory(t))
	var got dedup.Lease
	require.NoError(t, h.d.Wrap(bulwark.HandlerFunc(func(ctx context.Context, _ *bulwark.Message) error {
		got, ok = dedup.LeaseFrom(ctx)
		return nil
	})).Handle(context.Background(), msg("id")))
	assert.True(t, ok)
	assert.Equal(t, "id", got.Key)
	assert.NotEmpty(t, got.Token)
}

// Two deliveries of one record race (two consumers around a rebalance):
// the loser waits for the winner and, once it confirms, finishes as a
// duplicate; it does not return before the winner is done.
func TestRacingDeliveriesProcessOnce(t *testing.T) {
	st := memory(t)
	h := newHarness(t, st, dedup.WithLease(5*time.Second))
	entered, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	handler := h.d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		runs.Add(1)
		close(entered)
		<-release
		return nil
	}))
	winner := make(chan error, 1)
	go func() { winner <- handler.Handle(context.Background(), msg("id")) }()
	<-entered
	loser := make(chan error, 1)
	go func() { loser <- handler.Handle(context.Background(), msg("id")) }()
	select {
	case err := <-loser:
		t.Fatalf("loser finished (%v) before the winner did", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-winner)
	require.NoError(t, <-loser)
	assert.EqualValues(t, 1, runs.Load())
	assert.EqualValues(t, 1, h.count(t, dedup.MetricConflicts, attribute.String("dedup.conflict", "busy")))
	assert.EqualValues(t, 1, h.count(t, dedup.MetricDuplicates))
}

// When the winner fails, the waiting delivery processes the record.
func TestRacingLoserTakesOverWhenWinnerFails(t *testing.T) {
	h := newHarness(t, memory(t), dedup.WithLease(5*time.Second))
	entered, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	handler := h.d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		if runs.Add(1) == 1 {
			close(entered)
			<-release
			return errors.New("winner failed")
		}
		return nil
	}))
	winner := make(chan error, 1)
	go func() { winner <- handler.Handle(context.Background(), msg("id")) }()
	<-entered
	loser := make(chan error, 1)
	go func() { loser <- handler.Handle(context.Background(), msg("id")) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	require.Error(t, <-winner)
	require.NoError(t, <-loser)
	assert.EqualValues(t, 2, runs.Load())
}

// A consumer crashed holding the lease: a later delivery waits for the
// lease to expire, then processes the record.
func TestCrashedHolderLeaseExpires(t *testing.T) {
	st := memory(t)
	_, err := st.Claim(context.Background(), "id", 150*time.Millisecond) // the crashed consumer's claim
	require.NoError(t, err)
	var c counting
	h := newHarness(t, st, dedup.WithLease(time.Second))
	start := time.Now()
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), msg("id")))
	assert.EqualValues(t, 1, c.runs.Load())
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "waited for the lease")
}

func TestBusyBeyondWaitIsRetryable(t *testing.T) {
	st := memory(t)
	_, err := st.Claim(context.Background(), "id", time.Hour)
	require.NoError(t, err)
	var c counting
	for _, wait := range []time.Duration{0, 60 * time.Millisecond} {
		h := newHarness(t, st, dedup.WithBusyWait(wait))
		err := h.d.Wrap(&c).Handle(context.Background(), msg("id"))
		assert.ErrorIs(t, err, dedup.ErrInFlight)
		assert.ErrorIs(t, err, bulwark.ErrRetryable, "not committed, not dead-lettered at once")
	}
	assert.EqualValues(t, 0, c.runs.Load())

	// A cancelled context ends the wait.
	h := newHarness(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = h.d.Wrap(&c).Handle(ctx, msg("id"))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(err))
}

// faultyStore fails the operations it is told to.
type faultyStore struct {
	dedup.Store
	claim, confirm, release error
}

func (f faultyStore) Claim(ctx context.Context, k string, l time.Duration) (dedup.Claim, error) {
	if f.claim != nil {
		return dedup.Claim{}, f.claim
	}
	return f.Store.Claim(ctx, k, l)
}

func (f faultyStore) Confirm(ctx context.Context, k string, tok dedup.Token, ttl time.Duration) error {
	if f.confirm != nil {
		return f.confirm
	}
	return f.Store.Confirm(ctx, k, tok, ttl)
}

func (f faultyStore) Release(ctx context.Context, k string, tok dedup.Token) error {
	if f.release != nil {
		return f.release
	}
	return f.Store.Release(ctx, k, tok)
}

func TestStoreErrorsNotSayingUnavailableAreRetryable(t *testing.T) {
	odd := errors.New("value too long for the store")
	op := func(o string) attribute.KeyValue { return attribute.String("dedup.operation", o) }

	var c counting
	h := newHarness(t, faultyStore{Store: memory(t), claim: odd})
	err := h.d.Wrap(&c).Handle(context.Background(), msg("id"))
	assert.ErrorIs(t, err, odd)
	assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(err))
	assert.EqualValues(t, 0, c.runs.Load(), "no claim, no handler")
	assert.EqualValues(t, 1, h.count(t, dedup.MetricStoreErrors, op("claim")))

	h = newHarness(t, faultyStore{Store: memory(t), confirm: odd})
	err = h.d.Wrap(&c).Handle(context.Background(), msg("id"))
	assert.ErrorIs(t, err, odd)
	assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(err), "a lost confirm is never a silent pass")
	assert.EqualValues(t, 1, h.count(t, dedup.MetricStoreErrors, op("confirm")))

	h = newHarness(t, faultyStore{Store: memory(t), release: odd})
	permanent := bulwark.Permanentf("bad record")
	c.fail = func(int32) error { return permanent }
	err = h.d.Wrap(&c).Handle(context.Background(), msg("id"))
	assert.Same(t, permanent, err, "a failed release keeps the handler's own error")
	assert.EqualValues(t, 1, h.count(t, dedup.MetricStoreErrors, op("release")))
	assert.Contains(t, h.log.String(), "release failed")
}

// switchable is a store that is down while down is set.
type switchable struct {
	dedup.Store
	down  atomic.Pointer[error]
	calls atomic.Int32
}

func (s *switchable) fail() error {
	s.calls.Add(1)
	if e := s.down.Load(); e != nil {
		return *e
	}
	return nil
}

func (s *switchable) Claim(ctx context.Context, k string, l time.Duration) (dedup.Claim, error) {
	if err := s.fail(); err != nil {
		return dedup.Claim{}, err
	}
	return s.Store.Claim(ctx, k, l)
}

func (s *switchable) Confirm(ctx context.Context, k string, tok dedup.Token, ttl time.Duration) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Confirm(ctx, k, tok, ttl)
}

func (s *switchable) Release(ctx context.Context, k string, tok dedup.Token) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Release(ctx, k, tok)
}

func (s *switchable) set(err error) {
	if err == nil {
		s.down.Store(nil)
		return
	}
	s.down.Store(&err)
}

// Errors that say the store is unavailable, from a store that names them
// (dedup.Unavailable) or from a driver's plain network error, are
// pause-class on every path.
func TestUnavailableStorePauses(t *testing.T) {
	for name, down := range map[string]error{
		"marked by the store": dedup.Unavailable("mystore", "claim", errors.New("server restarting")),
		"network error":       &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		"EOF":                 fmt.Errorf("mystore: claim: %w", io.EOF),
		"store timeout":       context.DeadlineExceeded,
	} {
		t.Run(name, func(t *testing.T) {
			st := &switchable{Store: memory(t)}
			h := newHarness(t, st)
			var c counting
			st.set(down)
			err := h.d.Wrap(&c).Handle(context.Background(), msg("id"))
			assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "claim: %v", err)
			assert.ErrorIs(t, err, down)
			assert.EqualValues(t, 0, c.runs.Load())
		})
	}
}

// Confirm fails while the store is down: the record pauses, and its
// redelivery records the confirm instead of running the handler again.
func TestMissedConfirmIsRecordedOnRedelivery(t *testing.T) {
	st := &switchable{Store: memory(t)}
	h := newHarness(t, st, dedup.WithLease(time.Hour))
	down := dedup.Unavailable("mystore", "confirm", io.EOF)
	var c counting
	c.fail = func(int32) error { st.set(down); return nil } // the store goes as the handler finishes
	handler := h.d.Wrap(&c)
	err := handler.Handle(context.Background(), msg("id"))
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.Contains(t, err.Error(), "confirm")

	c.fail = nil
	err = handler.Handle(context.Background(), msg("id"))
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "still down")
	st.set(nil)
	require.NoError(t, handler.Handle(context.Background(), msg("id")), "no hour-long wait for the lease")
	assert.EqualValues(t, 1, c.runs.Load(), "the handler ran once")
	require.NoError(t, handler.Handle(context.Background(), msg("id")))
	assert.EqualValues(t, 1, c.runs.Load())
	assert.EqualValues(t, 1, h.count(t, dedup.MetricDuplicates), "the next delivery is a plain duplicate")
	assert.Contains(t, h.log.String(), "missed confirm recorded")
}

// The handler fails and the release fails with it: the redelivery releases
// first and runs the handler at once, without waiting for the lease.
func TestMissedReleaseIsRecordedOnRedelivery(t *testing.T) {
	st := &switchable{Store: memory(t)}
	h := newHarness(t, st, dedup.WithLease(time.Hour))
	down := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	var c counting
	c.fail = func(n int32) error {
		if n == 1 {
			st.set(down)
			return bulwark.Pause(errors.New("the handler's database is down too"), 0)
		}
		return nil
	}
	handler := h.d.Wrap(&c)
	err := handler.Handle(context.Background(), msg("id"))
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.Contains(t, err.Error(), "handler's database", "the handler's own error")

	err = handler.Handle(context.Background(), msg("id"))
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "the store is still down")
	assert.Contains(t, err.Error(), "release")
	st.set(nil)
	require.NoError(t, handler.Handle(context.Background(), msg("id")), "no hour-long wait for the lease")
	assert.EqualValues(t, 2, c.runs.Load())
}

func TestIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("value too long"), false},
		{bulwark.Permanentf("bad record"), false},
		{context.Canceled, false},
		{fmt.Errorf("dial: %w", context.Canceled), false},
		{dedup.Unavailable("s", "claim", errors.New("x")), true},
		{&dedup.UnavailableError{Store: "s", Op: "claim", Err: errors.New("x")}, true},
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{context.DeadlineExceeded, true},
		{os.ErrDeadlineExceeded, true},
		{net.ErrClosed, true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{&net.DNSError{Err: "no such host", Name: "redis"}, true},
		{syscall.ECONNRESET, true},
		{syscall.EPIPE, true},
	} {
		assert.Equal(t, tc.want, dedup.IsUnavailable(tc.err), "%v", tc.err)
	}
	err := dedup.Unavailable("redisstore", "claim", io.EOF)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.EqualError(t, err, "redisstore: claim: store unavailable: EOF")
	var ue *dedup.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "claim", ue.Op)
	assert.NoError(t, dedup.Unavailable("s", "op", nil))
}

// The handler outlived its lease and another claim took the key: the
// confirm reports the lost lease, which is counted and logged.
func TestLeaseLostBeforeConfirm(t *testing.T) {
	st := memory(t)
	h := newHarness(t, st, dedup.WithLease(20*time.Millisecond))
	err := h.d.Wrap(bulwark.HandlerFunc(func(ctx context.Context, _ *bulwark.Message) error {
		time.Sleep(60 * time.Millisecond)
		c, err := st.Claim(ctx, "id", time.Hour) // another consumer claims meanwhile
		require.NoError(t, err)
		require.Equal(t, dedup.Acquired, c.State)
		return nil
	})).Handle(context.Background(), msg("id"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, h.count(t, dedup.MetricConflicts, attribute.String("dedup.conflict", "lease_lost")))
	assert.Contains(t, h.log.String(), "lease lost before confirm")
	c, err := st.Claim(context.Background(), "id", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, dedup.Busy, c.State, "the other consumer's claim is untouched")
}

// A handler that succeeds as its context is cancelled (a revoke) still has
// its outcome recorded.
func TestConfirmSurvivesCancellation(t *testing.T) {
	h := newHarness(t, memory(t))
	ctx, cancel := context.WithCancel(context.Background())
	var c counting
	require.NoError(t, h.d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		cancel()
		return c.Handle(ctx, nil)
	})).Handle(ctx, msg("id")))
	require.NoError(t, h.d.Wrap(&c).Handle(context.Background(), msg("id")))
	assert.EqualValues(t, 1, c.runs.Load())
}

func TestInvalidConfig(t *testing.T) {
	st := memory(t)
	_, err := dedup.New(nil)
	assert.ErrorIs(t, err, dedup.ErrInvalidConfig)
	for name, o := range map[string]dedup.Option{
		"lease":     dedup.WithLease(0),
		"retention": dedup.WithRetention(-time.Second),
		"busy wait": dedup.WithBusyWait(-1),
		"key func":  dedup.WithKeyFunc(nil),
		"timeout":   dedup.WithStoreTimeout(0),
	} {
		_, err := dedup.New(st, o)
		assert.ErrorIs(t, err, dedup.ErrInvalidConfig, name)
	}
	d, err := dedup.New(st, dedup.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	assert.NotNil(t, d.Middleware())
}

// Two deduplicators on one meter provider, told apart by WithName.
func TestWithNameAttributesMetrics(t *testing.T) {
	h := &harness{reader: sdkmetric.NewManualReader(), log: &syncBuffer{}}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var c counting
	wrap := func(name string) bulwark.Handler {
		d, err := dedup.New(memory(t), dedup.WithName(name), dedup.WithMeterProvider(mp), dedup.WithLogger(logger))
		require.NoError(t, err)
		return d.Wrap(&c)
	}
	payment, shipping := wrap("payment"), wrap("shipping")
	for range 3 {
		require.NoError(t, payment.Handle(context.Background(), msg("id-1")))
	}
	for range 2 {
		require.NoError(t, shipping.Handle(context.Background(), msg("id-1")))
	}
	name := func(n string) attribute.KeyValue { return attribute.String(dedup.AttrName, n) }
	assert.EqualValues(t, 3, h.count(t, dedup.MetricDuplicates))
	assert.EqualValues(t, 2, h.count(t, dedup.MetricDuplicates, name("payment")))
	assert.EqualValues(t, 1, h.count(t, dedup.MetricDuplicates, name("shipping")))
	assert.EqualValues(t, 1, h.count(t, dedup.MetricClaims, name("shipping"), attribute.String("dedup.outcome", "acquired")))
	assert.Contains(t, h.log.String(), "dedup_name=payment")
}
