package outbox

// Goroutines: Run executes the relay on its caller's goroutine and starts
// one helper, which cancels Run's context when Close is called and ends
// with Run. The producer runs the SendAsync callbacks on its own
// goroutines; they only write to a channel buffered for the whole batch,
// so they never block, even after Run gave up waiting for them.

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/producer"
)

// Sender is what the relay needs from a producer. A *producer.Producer
// (idempotent) satisfies it, and so does producertest's fake. Records of
// one partition must be written in the order of SendAsync calls, and a
// retried record must not be duplicated: what the idempotent producer
// guarantees.
type Sender interface {
	SendAsync(ctx context.Context, msg *bulwark.Message, done func(producer.Result, error))
}

// Relay publishes the outbox's rows to Kafka. Run it in every instance of
// the service: one relay at a time leads (holds the table's advisory
// lock) and publishes, the others stand by. See the package documentation
// for how it coordinates and reconciles.
type Relay struct {
	db       *sql.DB
	sender   Sender
	brokers  []string
	settings conn.Settings
	cfg      config
	log      *slog.Logger
	q        queries

	mu      sync.Mutex
	stats   Stats
	running bool
	runDone chan struct{} // closed when the running Run returns
	closed  chan struct{} // closed by Close
	close   sync.Once

	// Owned by Run's goroutine.
	reader      *saramax.Reader
	stopAbort   func() bool     // stops the reader's abort at the end of Run's ctx
	initialized map[string]bool // topics whose positions exist
}

// NewRelay returns a relay of the outbox table ([WithTable]) in db that
// publishes through sender and reconciles by reading the cluster at
// brokers (with [WithConnection]'s settings). It checks its arguments
// only; Run connects.
func NewRelay(db *sql.DB, sender Sender, brokers []string, opts ...Option) (*Relay, error) {
	switch {
	case db == nil:
		return nil, fmt.Errorf("%w: nil *sql.DB", ErrInvalidConfig)
	case sender == nil:
		return nil, fmt.Errorf("%w: nil Sender", ErrInvalidConfig)
	}
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	settings, err := conn.Build(cfg.connOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &Relay{
		db: db, sender: sender, brokers: slices.Clone(brokers), settings: settings,
		cfg: cfg, log: cfg.logger, q: newQueries(cfg.table),
		stats:  Stats{State: StateStopped},
		closed: make(chan struct{}),
	}, nil
}

// Stats returns a snapshot of the relay's counters and state.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Relay) update(fn func(*Stats)) {
	r.mu.Lock()
	fn(&r.stats)
	r.mu.Unlock()
}

func (r *Relay) setState(s State) { r.update(func(st *Stats) { st.State = s }) }

// Run relays until ctx ends or Close is called, then returns nil. While
// PostgreSQL or Kafka is unavailable it pauses and retries (with a backoff
// up to [WithRetryBackoff]; Stats and WARN logs show it); no row is
// dropped. Once ctx ends it finishes the wave in flight (see Close for the
// bound) and marks it. It returns [ErrRunning] if the relay is running
// already, and returns at once after Close.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	select {
	case <-r.closed:
		r.mu.Unlock()
		return nil
	default:
	}
	r.running, r.runDone = true, make(chan struct{})
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	helper := make(chan struct{})
	go func() {
		defer close(helper)
		select {
		case <-r.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-helper
		r.closeReader()
		r.mu.Lock()
		r.running = false
		r.stats.State = StateStopped
		close(r.runDone)
		r.mu.Unlock()
	}()
	r.initialized = map[string]bool{}

	failures := 0
	for ctx.Err() == nil {
		err := r.lead(ctx)
		if ctx.Err() != nil {
			break
		}
		wait := r.cfg.pollInterval
		switch {
		case err != nil:
			failures++
			r.failed(err)
			r.log.Warn("outbox: relay paused", "table", r.cfg.table, "error", err, "failures", failures)
			wait = backoff.Pause(r.cfg.pollInterval, r.cfg.retryBackoff, failures)
		case failures > 0:
			r.log.Info("outbox: relay resumed", "table", r.cfg.table, "after_failures", failures)
			failures = 0
		}
		if (clock.Wall{}).Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

func (r *Relay) failed(err error) {
	r.update(func(s *Stats) {
		s.State, s.Failures, s.LastError, s.LastErrorAt = StatePaused, s.Failures+1, err, time.Now()
	})
	// A Kafka failure may have left the client's connections broken.
	if !isDBError(err) {
		r.closeReader()
	}
}

func (r *Relay) closeReader() {
	if r.reader != nil {
		r.stopAbort()
		r.reader.Close()
		r.reader = nil
	}
}

// Close stops Run, if it is running, and waits for it to return: within
// three times the stop timeout at most (a statement marking rows attempted,
// the acknowledgements of the wave in flight, marking them), as a
// reconcile's reads are cut when Run's context ends.
// It is idempotent and returns nil.
func (r *Relay) Close() error {
	r.close.Do(func() { close(r.closed) })
	r.mu.Lock()
	done, running := r.runDone, r.running
	r.mu.Unlock()
	if running {
		<-done
	}
	return nil
}

// dbError marks errors of PostgreSQL, to tell them from Kafka's.
type dbError struct {
	op  string
	err error
}

func (e *dbError) Error() string { return "outbox: PostgreSQL: " + e.op + ": " + e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &dbError{op, err}
}

func isDBError(err error) bool {
	var d *dbError
	return errors.As(err, &d)
}

// lead takes the leadership if no other relay holds it, and then
// publishes until an error or the end of ctx.
func (r *Relay) lead(ctx context.Context) error {
	c, err := r.db.Conn(ctx)
	if err != nil {
		return dbErr("connect", err)
	}
	var held bool
	if err := c.QueryRowContext(ctx, r.q.tryLock, r.cfg.table).Scan(&held); err != nil {
		discard(c) // its session may hold the lock if the answer was lost
		return dbErr("try the relay lock", err)
	}
	if !held {
		_ = c.Close() // back to the pool: its session holds no lock
		r.setState(StateStandby)
		return nil
	}
	// Dropping the session is what releases the lock: a connection back in
	// the pool would keep it.
	defer discard(c)
	r.update(func(s *Stats) { s.State, s.Leaderships = StateLeader, s.Leaderships+1 })
	r.log.Info("outbox: relay is the leader", "table", r.cfg.table)
	if err := r.reconcile(ctx, c); err != nil {
		return err
	}
	for ctx.Err() == nil {
		n, clean, err := r.batch(ctx, c)
		switch {
		case err != nil:
			return err
		case !clean:
			if err := r.reconcile(ctx, c); err != nil {
				return err
			}
		case n == 0:
			_ = (clock.Wall{}).Sleep(ctx, r.cfg.pollInterval)
		}
	}
	return nil
}

// discard closes c's session rather than returning it to the pool.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

// row is an outbox row being published.
type row struct {
	id  int64
	msg *bulwark.Message
}

type sent struct {
	i   int
	res producer.Result
	err error
}

// batch publishes up to the batch size of the oldest rows, in row order,
// and marks those acknowledged. It returns how many rows it tried and
// whether all were acknowledged (clean); when not, the rows not marked
// are in doubt until a reconcile settles them.
func (r *Relay) batch(ctx context.Context, c *sql.Conn) (int, bool, error) {
	rows, err := r.pending(ctx, c)
	if err != nil || len(rows) == 0 {
		return 0, true, err
	}
	if err := r.ensurePositions(ctx, c, rows); err != nil {
		return 0, true, err
	}
	ids := make([]int64, len(rows))
	for i, rw := range rows {
		ids[i] = rw.id
	}
	// Durable before the first send: a relay taking over after a crash
	// learns from it which rows may be in Kafka already. Not cut short by
	// ctx, whose end would leave the outcome unknown: a stop then clears
	// the attempt below.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.stopTimeout)
	defer cancel()
	if _, err := c.ExecContext(actx, r.q.attempt, ids); err != nil {
		return 0, true, dbErr("mark rows attempted", err)
	}
	results := make(chan sent, len(rows)) // never blocks a callback
	var (
		acked   []sent
		sendErr error
		timer   *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// Once ctx ends, no wave starts, and the one in flight is waited for
	// at most the stop timeout: what is unacknowledged then stays in doubt.
	// The rows of waves never started are certainly not in Kafka.
	ctxDone := ctx.Done()
	var (
		deadline <-chan time.Time
		failed   int
		unsent   []int64
	)
	all := waves(rows)
	checked := time.Now() // the attempt statement succeeded: the lock was ours
send:
	for w, wave := range all {
		if w > 0 && time.Since(checked) >= leaderCheckInterval && ctx.Err() == nil && sendErr == nil {
			// Still the leader? Only while this session lives: a relay
			// whose connection died stops within this interval, which the
			// takeover grace covers.
			if err := c.PingContext(ctx); err != nil {
				return len(rows), false, dbErr("check the relay lock", err)
			}
			checked = time.Now()
		}
		if ctx.Err() != nil || sendErr != nil {
			// After a failure, the later rows of a failed row's key wait
			// for it; the others go with the next batch.
			for _, later := range all[w:] {
				for _, i := range later {
					unsent = append(unsent, rows[i].id)
				}
			}
			break
		}
		for _, i := range wave {
			// Not cancelled with ctx: a wave started is handed over whole
			// (SendAsync blocks at most the producer's delivery timeout),
			// so a stop leaves no record half-sent.
			r.sender.SendAsync(context.WithoutCancel(ctx), rows[i].msg, func(res producer.Result, err error) { results <- sent{i, res, err} })
		}
		for got := 0; got < len(wave); {
			select {
			case s := <-results:
				got++
				if s.err != nil {
					sendErr = cmp.Or(sendErr, s.err)
					failed++
				} else {
					acked = append(acked, s)
				}
			case <-ctxDone:
				timer = time.NewTimer(r.cfg.stopTimeout)
				deadline, ctxDone = timer.C, nil
			case <-deadline:
				break send
			}
		}
	}
	clean := len(acked) == len(rows)
	if failed > 0 {
		r.update(func(s *Stats) { s.SendFailures += int64(failed) })
		if ctx.Err() == nil {
			r.log.Warn("outbox: records not acknowledged; reconciling before they are sent again",
				"table", r.cfg.table, "unacknowledged", failed, "error", sendErr)
		}
	}
	doneIDs := make([]int64, 0, len(acked))
	for _, s := range acked {
		doneIDs = append(doneIDs, rows[s.i].id)
	}
	var pos positions
	if clean {
		// Only a batch acknowledged whole moves the positions: a failed
		// record may still land, before later ones of its partition.
		for _, s := range acked {
			pos.add(s.res.Topic, s.res.Partition, s.res.Offset+1)
		}
	}
	if len(doneIDs) == 0 && len(unsent) == 0 {
		return len(rows), clean, nil
	}
	// Marked even when ctx has ended, within the stop timeout.
	mctx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.stopTimeout)
	defer cancelMark()
	if err := r.mark(mctx, c, doneIDs, unsent, pos); err != nil {
		return len(rows), false, err
	}
	r.update(func(s *Stats) { s.Published += int64(len(doneIDs)) })
	return len(rows), clean, nil
}

// leaderCheckInterval bounds how long a leader sends waves of a batch
// without hearing from its PostgreSQL session, so a relay that lost its
// connection (and the lock) stops sending within it.
const leaderCheckInterval = 250 * time.Millisecond

// waves splits rows (in row order) into rounds that may be in flight
// together: the n-th wave holds the n-th row of each key, so a row is sent
// only once every earlier row of its key is acknowledged, and a row that
// fails is never overtaken by a later one of its key. Rows without a key
// have no order and all go in the first wave.
func waves(rows []row) [][]int {
	var out [][]int
	seen := map[string]int{}
	for i, rw := range rows {
		w := 0
		if rw.msg.Key != nil {
			w = seen[string(rw.msg.Key)]
			seen[string(rw.msg.Key)]++
		}
		if w == len(out) {
			out = append(out, nil)
		}
		out[w] = append(out[w], i)
	}
	return out
}

// pending reads the oldest rows, up to the batch size, in row order.
func (r *Relay) pending(ctx context.Context, c *sql.Conn) ([]row, error) {
	rs, err := c.QueryContext(ctx, r.q.pending, r.cfg.batchSize)
	if err != nil {
		return nil, dbErr("read rows", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var (
			rw      row
			msgID   string
			headers []byte
			m       = &bulwark.Message{}
		)
		if err := rs.Scan(&rw.id, &m.Topic, &msgID, &m.Key, &m.Value, &headers); err != nil {
			return nil, dbErr("read rows", err)
		}
		if m.Headers, err = decodeHeaders(headers); err != nil {
			return nil, fmt.Errorf("outbox: row %d: %w", rw.id, err)
		}
		m.Headers = append(m.Headers, bulwark.Header{Key: bulwark.HeaderMessageID, Value: []byte(msgID)})
		rw.msg = m
		out = append(out, rw)
	}
	if err := rs.Err(); err != nil {
		return nil, dbErr("read rows", err)
	}
	return out, nil
}

// mark deletes the rows published, clears the attempt of the rows unsent
// and moves the positions forward, in one statement.
func (r *Relay) mark(ctx context.Context, c *sql.Conn, published, unsent []int64, pos positions) error {
	if _, err := c.ExecContext(ctx, r.q.mark, published, pos.topics, pos.partitions, pos.offsets, unsent); err != nil {
		return dbErr("mark rows sent", err)
	}
	return nil
}

// positions are next offsets per topic and partition, as the arrays the
// mark statement takes.
type positions struct {
	topics     []string
	partitions []int32
	offsets    []int64
}

func (p *positions) add(topic string, partition int32, next int64) {
	for i := range p.topics {
		if p.topics[i] == topic && p.partitions[i] == partition {
			p.offsets[i] = max(p.offsets[i], next)
			return
		}
	}
	p.topics, p.partitions, p.offsets = append(p.topics, topic), append(p.partitions, partition), append(p.offsets, next)
}
