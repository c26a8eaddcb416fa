package dedup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
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

func TestRecordWithoutKey(t *testing.T) {
	var c counting
	h := newHarness(t, memory(t))
	err := h.d.Wrap(&c).Handle(context.Background(), msg(""))
	assert.ErrorIs(t, err, dedup.ErrNoKey)
	assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(err), "dead-lettered, never silently skipped")
	assert.EqualValues(t, 0, c.runs.Load())

	pass := newHarness(t, memory(t), dedup.WithAllowUnkeyed())
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

func TestStoreFailuresAreRetryable(t *testing.T) {
	down := errors.New("connection refused")
	op := func(o string) attribute.KeyValue { return attribute.String("dedup.operation", o) }

	var c counting
	h := newHarness(t, faultyStore{Store: memory(t), claim: down})
	err := h.d.Wrap(&c).Handle(context.Background(), msg("id"))
	assert.ErrorIs(t, err, down)
	assert.ErrorIs(t, err, bulwark.ErrRetryable)
	assert.EqualValues(t, 0, c.runs.Load(), "no claim, no handler")
	assert.EqualValues(t, 1, h.count(t, dedup.MetricStoreErrors, op("claim")))

	h = newHarness(t, faultyStore{Store: memory(t), confirm: down})
	err = h.d.Wrap(&c).Handle(context.Background(), msg("id"))
	assert.ErrorIs(t, err, down)
	assert.ErrorIs(t, err, bulwark.ErrRetryable, "a lost confirm is never a silent pass")
	assert.EqualValues(t, 1, h.count(t, dedup.MetricStoreErrors, op("confirm")))

	h = newHarness(t, faultyStore{Store: memory(t), release: down})
	permanent := bulwark.Permanentf("bad record")
	c.fail = func(int32) error { return permanent }
	err = h.d.Wrap(&c).Handle(context.Background(), msg("id"))
	assert.Same(t, permanent, err, "a failed release keeps the handler's own error")
	assert.EqualValues(t, 1, h.count(t, dedup.MetricStoreErrors, op("release")))
	assert.Contains(t, h.log.String(), "release failed")
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
