package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/redisstore"
	"github.com/bulwarkgo/bulwark/dedup/sqlstore"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/gateway"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/deadletters"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/inventory"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/order"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/outbox"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/payment"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/projection"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/saga"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/shipping"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/telemetry"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/topics"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/provision"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for -dedup postgres
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
)

// Run runs the pipeline once and returns its summary. The error is for a
// run that could not happen (no cluster, bad flags); a run whose invariants
// fail returns a summary whose OK is false.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg.defaults()
	start := time.Now()
	log := cfg.Logger

	var cluster *kafkatest.Cluster
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		c, err := kafkatest.Start(kafkatest.WithBrokers(3))
		if err != nil {
			return nil, fmt.Errorf("embedded cluster: %w", err)
		}
		defer c.Close()
		cluster, brokers = c, c.Brokers()
		fmt.Fprintf(cfg.Progress, "embedded cluster at %v\n", brokers)
	}

	metrics, err := telemetry.New()
	if err != nil {
		return nil, err
	}
	defer metrics.Shutdown(context.Background())
	mp := metrics.Provider()

	// The embedded cluster is plaintext; cfg.Conn is for a real one.
	base := cfg.Conn
	if cluster != nil {
		base = cluster.ConnOptions()
	}
	tc, err := topics.New(brokers, base...)
	if err != nil {
		return nil, err
	}
	t := events.Topics{Prefix: cfg.TopicPrefix}
	if err := ensureTopics(ctx, brokers, base, log, t, cfg.Partitions); err != nil {
		return nil, err
	}

	codec, closeCodec, err := newCodec(cfg)
	if err != nil {
		return nil, err
	}
	defer closeCodec()

	gw, err := gateway.Start(cfg.DeclinePercent)
	if err != nil {
		return nil, err
	}
	defer gw.Close()
	gwClient := &gateway.Client{BaseURL: gw.URL(), HTTP: &http.Client{Timeout: 5 * time.Second}}

	store, closeStore, err := dedupStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeStore()

	policies, err := payment.NewPolicies(log, mp)
	if err != nil {
		return nil, err
	}
	defer policies.Breaker.Close()
	calls := payment.NewCallLog() // outlives the payment instances, like the gateway's own records

	runID := fmt.Sprintf("o%x", time.Now().Unix()%0xfffff)
	var (
		ob      *outbox.Store
		relayMu sync.Mutex
		relays  []*outbox.Relay
	)
	if cfg.Outbox {
		var closeOutbox func()
		if ob, closeOutbox, err = openOutbox(ctx, cfg, runID); err != nil {
			return nil, err
		}
		defer closeOutbox()
	}

	initial := map[string]int64{}
	var skus []string
	for i := 1; i <= cfg.SKUs; i++ {
		sku := fmt.Sprintf("sku-%02d", i)
		skus = append(skus, sku)
		initial[sku] = cfg.StockPerSKU
	}

	killable := cluster != nil
	sups := []*supervisor{
		{name: "inventory", build: func(co []conn.Option) (service, error) {
			return inventory.New(inventory.Config{Brokers: brokers, Conn: co, Topics: t, Codec: codec,
				InitialStock: initial, Logger: log, Meter: mp})
		}},
		{name: "payment", build: func(co []conn.Option) (service, error) {
			return payment.New(payment.Config{Brokers: brokers, Conn: co, Topics: t, Codec: codec, Gateway: gwClient,
				Policies: policies, DedupStore: store, Calls: calls, Logger: log, Meter: mp})
		}},
		{name: "shipping", build: func(co []conn.Option) (service, error) {
			return shipping.New(shipping.Config{Brokers: brokers, Conn: co, Topics: t, Codec: codec, DedupStore: store,
				Logger: log, Meter: mp})
		}},
		{name: "saga", build: func(co []conn.Option) (service, error) {
			return saga.New(saga.Config{Brokers: brokers, Conn: co, Topics: t, Codec: codec, Logger: log, Meter: mp})
		}},
	}
	if ob != nil {
		sups = append(sups, &supervisor{name: "outbox-relay", build: func(co []conn.Option) (service, error) {
			r := outbox.NewRelay(ob, outbox.RelayConfig{Brokers: brokers, Conn: co, Logger: log, Meter: mp})
			relayMu.Lock()
			relays = append(relays, r)
			relayMu.Unlock()
			return r, nil
		}})
	}
	var viewStore *projection.PGStore
	switch cfg.View {
	case "memory":
	case "postgres":
		var closeView func()
		if viewStore, closeView, err = openView(ctx, cfg, runID); err != nil {
			return nil, err
		}
		defer closeView()
	default:
		return nil, fmt.Errorf("unknown view store %q (memory or postgres)", cfg.View)
	}
	proj, err := projection.New(projection.Config{Brokers: brokers, Conn: base, Topics: t, Codec: codec, Reader: tc, Store: viewStore, Logger: log, Meter: mp})
	if err != nil {
		return nil, err
	}

	svcCtx, stopServices := context.WithCancel(ctx)
	defer stopServices()
	var wg sync.WaitGroup
	for _, s := range sups {
		s.killab, s.logger = killable, log
		wg.Add(1)
		go func() { defer wg.Done(); s.run(svcCtx, base) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := proj.Run(svcCtx); err != nil && svcCtx.Err() == nil {
			log.Error("projection stopped", "error", err)
		}
	}()

	var (
		placedMu sync.Mutex
		placed   []events.OrderCreated // by the generator and POST /orders
	)
	orders, err := order.New(order.Config{Brokers: brokers, Conn: base, Topics: t, Codec: codec, Logger: log, Meter: mp, Outbox: ob,
		OnPlaced: func(o events.OrderCreated) {
			placedMu.Lock()
			placed = append(placed, o)
			placedMu.Unlock()
		}})
	if err != nil {
		stopServices()
		wg.Wait()
		return nil, err
	}
	defer orders.Close()

	if cfg.Listen != "" {
		srv, addr, err := serveHTTP(cfg.Listen, metrics, proj, orders, tc, t, brokers, base)
		if err != nil {
			stopServices()
			wg.Wait()
			return nil, err
		}
		defer srv.Close()
		// The listener's address, so that -listen 127.0.0.1:0 says which port.
		fmt.Fprintf(cfg.Progress, "serving http://%s/metrics, /orders, /orders/{id}, /dlt\n", addr)
	}

	if err := sendPoison(ctx, brokers, base, t, cfg.Poison); err != nil {
		log.Warn("poison records not sent", "error", err)
	}

	planned := order.Generator{RunID: runID, SKUs: skus, Seed: cfg.Seed}.Orders(cfg.Orders)
	genDone := make(chan error, 1)
	go func() { genDone <- orders.Generate(svcCtx, planned, cfg.Rate) }()

	var ch *chaos
	if cfg.Chaos {
		ch = &chaos{cluster: cluster, gateway: gw, sups: sups, out: cfg.Progress, log: log, brokers: brokers, conn: base, reader: tc, topics: t}
		wg.Add(1)
		go func() { defer wg.Done(); ch.run(svcCtx, start) }()
	}

	// Wait for the orders to be placed and to settle.
	deadline := time.NewTimer(cfg.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	generating := true
	var genErr error
	settled := func() (int, int) {
		placedMu.Lock()
		ids := make([]string, len(placed))
		for i, o := range placed {
			ids[i] = o.OrderID
		}
		placedMu.Unlock()
		final := 0
		proj.Read(func(v *projection.View) {
			for _, id := range ids {
				if o, ok := v.Get(id); ok && projection.Final(o.Status) {
					final++
				}
			}
		})
		return final, len(ids)
	}
wait:
	for {
		select {
		case genErr = <-genDone:
			generating = false
			if genErr != nil {
				break wait
			}
		case <-tick.C:
			printProgress(cfg.Progress, start, cfg.Orders, proj, policies.Breaker.State().String())
			final, n := settled()
			if !generating && final == n && (ch == nil || ch.done()) {
				break wait
			}
		case <-deadline.C:
			fmt.Fprintf(cfg.Progress, "timed out after %v waiting for orders to settle\n", cfg.Timeout)
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	printProgress(cfg.Progress, start, cfg.Orders, proj, policies.Breaker.State().String())

	live := map[string]string{}
	placedMu.Lock()
	done := append([]events.OrderCreated(nil), placed...)
	placedMu.Unlock()
	proj.Read(func(v *projection.View) {
		for _, o := range done {
			got, _ := v.Get(o.OrderID)
			live[o.OrderID] = got.Status
		}
	})
	stopServices()
	wg.Wait()
	for _, sp := range sups {
		if n := sp.waitZombies(5 * time.Second); n > 0 {
			log.Warn("crashed instances still running", "service", sp.name, "count", n)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Check the outcome from the topics themselves.
	readCtx, cancelRead := context.WithTimeout(context.Background(), time.Minute)
	defer cancelRead()
	all := append(t.Events(), t.Stock())
	for _, in := range t.Inputs() {
		all = append(all, t.DeadLetter(in))
	}
	recs, err := tc.ReadAll(readCtx, all...)
	if err != nil {
		return nil, fmt.Errorf("read topics for the checks: %w", err)
	}
	replayed, err := projection.Replay(readCtx, projection.Config{Brokers: brokers, Conn: base, Topics: t, Codec: codec, Reader: tc})
	if err != nil {
		return nil, fmt.Errorf("replay projection: %w", err)
	}
	s := &Summary{Placed: len(done), OrderRetries: orders.Retries()}
	gwc := gw.Counts()
	s.GatewayRequests, s.GatewayReplays = gwc.Requests, gwc.Replays
	s.DuplicatesSkipped, s.SkippedBy = dedupSkips(readCtx, metrics)
	opens, _ := metrics.Sum(readCtx, "bulwark.resilience.breaker.transitions",
		attribute.String("bulwark.resilience.breaker.state", "open"))
	s.BreakerOpenings = int(opens)
	for _, sp := range sups {
		c, r, _ := sp.counts()
		s.Crashes += c
		s.Restarts += r
	}
	injected := 0
	if ch != nil {
		s.Faults = ch.faults()
		injected = ch.injectedDuplicates()
	}
	if err := check(readCtx, checkInputs{topics: t, codec: codec, placed: done, initial: initial, poison: cfg.Poison,
		gateway: gwc, unfinished: calls.Unfinished(), live: live, replayed: replayed, duplicates: injected}, recs, s); err != nil {
		return nil, err
	}
	if viewStore != nil {
		s.Checks = append(s.Checks, viewCheck(readCtx, viewStore, live))
	}
	if ob != nil {
		relayMu.Lock()
		for _, r := range relays {
			st := r.Stats()
			s.OutboxRelayed += st.Published
			s.OutboxReconciled += st.Reconciled
		}
		relayMu.Unlock()
		s.Outbox = true
		s.Checks = append(s.Checks, outboxCheck(readCtx, ob, t.Orders(), runID, len(done)))
	}
	if genErr != nil {
		s.Checks = append(s.Checks, Check{Name: "all orders placed", Detail: genErr.Error()})
	} else if len(done) < cfg.Orders {
		s.Checks = append(s.Checks, Check{Name: "all orders placed", Detail: fmt.Sprintf("%d of %d", len(done), cfg.Orders)})
	}
	s.Elapsed = time.Since(start)
	return s, nil
}

// dedupSkips reads the records dedup skipped, in all and per service (each
// service names its deduplicator after itself).
func dedupSkips(ctx context.Context, m *telemetry.Metrics) (int, []ServiceCount) {
	all, _ := m.Sum(ctx, dedup.MetricDuplicates)
	var by []ServiceCount
	for _, svc := range []string{"payment", "shipping"} {
		n, _ := m.Sum(ctx, dedup.MetricDuplicates, attribute.String(dedup.AttrName, svc))
		by = append(by, ServiceCount{Service: svc, N: int(n)})
	}
	return int(all), by
}

// ensureTopics creates the pipeline's topics with bulwark's provision
// package: missing ones are created, existing ones checked (a topic with
// another partition count or cleanup policy than declared is reported as
// drift and logged, never changed).
func ensureTopics(ctx context.Context, brokers []string, connOpts []conn.Option, log *slog.Logger, t events.Topics, partitions int32) error {
	want := []provision.Topic{{Name: t.Stock(), Partitions: partitions, Configs: map[string]string{"cleanup.policy": "compact"}}}
	for _, name := range t.Events() {
		want = append(want, provision.Topic{Name: name, Partitions: partitions})
	}
	for _, in := range t.Inputs() {
		want = append(want, provision.Topic{Name: t.DeadLetter(in), Partitions: 1})
	}
	_, err := provision.Ensure(ctx, brokers, want, provision.WithConnection(connOpts...), provision.WithDriftAsWarning(), provision.WithLogger(log))
	return err
}

// openOutbox opens the order and outbox tables of this run (dropped when
// the run ends).
func openOutbox(ctx context.Context, cfg Config, runID string) (*outbox.Store, func(), error) {
	db, err := sql.Open("pgx", cfg.PostgresDSN)
	if err != nil {
		return nil, nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("postgres for the outbox: %w", err)
	}
	prefix := "shop_" + runID + "_"
	ob, err := outbox.Open(ctx, db, prefix)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return ob, func() {
		_, _ = db.Exec("DROP TABLE IF EXISTS " + strings.Join(ob.Tables(), ", "))
		db.Close()
	}, nil
}

// openView opens the projection's PostgreSQL table of this run (dropped
// when the run ends).
func openView(ctx context.Context, cfg Config, runID string) (*projection.PGStore, func(), error) {
	db, err := sql.Open("pgx", cfg.PostgresDSN)
	if err != nil {
		return nil, nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("postgres for the view: %w", err)
	}
	table := "shop_" + runID + "_order_view"
	st, err := projection.OpenPG(ctx, db, table)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return st, func() {
		_, _ = db.Exec("DROP TABLE IF EXISTS " + table)
		db.Close()
	}, nil
}

// viewCheck: the PostgreSQL view says what the live view says of every
// placed order.
func viewCheck(ctx context.Context, st *projection.PGStore, live map[string]string) Check {
	c := Check{Name: "PostgreSQL view equals the live view"}
	rows, err := st.List(ctx, "")
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	inPG := map[string]string{}
	for _, o := range rows {
		inPG[o.OrderID] = o.Status
	}
	var diff []string
	for id, status := range live {
		if inPG[id] != status {
			diff = append(diff, fmt.Sprintf("%s: live %q, PostgreSQL %q", id, status, inPG[id]))
		}
	}
	sort.Strings(diff)
	c.OK = len(diff) == 0
	if !c.OK {
		c.Detail = fmt.Sprintf("%d orders differ, e.g. %s", len(diff), diff[0])
	}
	return c
}

// outboxCheck: every placed order has its row, and the outbox is empty
// (the published-once check covers the topic side).
func outboxCheck(ctx context.Context, ob *outbox.Store, topic, runID string, placed int) Check {
	c := Check{Name: "outbox: every order row written and every event relayed"}
	rows, err := ob.Orders(ctx, runID)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	pending, err := ob.Pending(ctx, topic)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.OK = rows == placed && pending == 0
	if !c.OK {
		c.Detail = fmt.Sprintf("%d order rows for %d placed, %d events not relayed", rows, placed, pending)
	}
	return c
}

func dedupStore(ctx context.Context, cfg Config) (dedup.Store, func(), error) {
	switch cfg.Dedup {
	case "memory":
		// Kept by the pipeline, not by a service instance, so that it
		// outlives the simulated crashes like an external store would.
		m, err := dedup.NewMemory()
		return m, func() {}, err
	case "redis":
		// The store checks that Redis answers, within ctx.
		client := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
		s, err := redisstore.NewContext(ctx, client, redisstore.WithPrefix(fmt.Sprintf("orders:%d:", time.Now().UnixNano())))
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		return s, func() { client.Close() }, nil
	case "postgres":
		db, err := sql.Open("pgx", cfg.PostgresDSN)
		if err != nil {
			return nil, nil, err
		}
		// The store checks that PostgreSQL answers, within ctx.
		s, err := sqlstore.New(ctx, db, sqlstore.WithTable(fmt.Sprintf("orders_dedup_%d", time.Now().UnixNano())))
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return s, func() { db.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown dedup store %q (memory, redis or postgres)", cfg.Dedup)
}

// sendPoison writes n records no service can decode to the orders topic,
// to show the dead-letter path.
func sendPoison(ctx context.Context, brokers []string, connOpts []conn.Option, t events.Topics, n int) error {
	if n <= 0 {
		return nil
	}
	p, err := producer.New(brokers, producer.WithConnection(connOpts...))
	if err != nil {
		return err
	}
	defer p.Close()
	for i := range n {
		if _, err := p.Send(ctx, &bulwark.Message{Topic: t.Orders(), Key: []byte(fmt.Sprintf("poison-%d", i+1)),
			Value: []byte("\x00\xde\xad\xbe\xefnot an order")}); err != nil {
			return err
		}
	}
	return nil
}

func printProgress(w interface{ Write([]byte) (int, error) }, start time.Time, total int, proj *projection.Projection, breaker string) {
	var c map[string]int
	proj.Read(func(v *projection.View) { c = v.Counts() })
	placed := 0
	for _, n := range c {
		placed += n
	}
	fmt.Fprintf(w, "[%5.1fs] orders %d/%d  reserved %d  rejected %d  paid %d  payment failed %d  shipped %d  compensated %d  parked %d  breaker %s\n",
		time.Since(start).Seconds(), placed, total,
		c[projection.StatusReserved], c[projection.StatusRejected], c[projection.StatusPaid], c[projection.StatusPaymentFailed],
		c[projection.StatusShipped], c[projection.StatusCompensated], c[projection.StatusDeadLettered], breaker)
}

func serveHTTP(addr string, m *telemetry.Metrics, proj *projection.Projection, orders *order.Service,
	tc *topics.Client, t events.Topics, brokers []string, connOpts []conn.Option) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	ph := proj.Handler()
	mux.Handle("/orders", ph)
	mux.Handle("/orders/", ph)
	mux.Handle("/projection/", ph)
	mux.Handle("POST /orders", orders.Handler())
	dh := deadletters.Handler(tc, brokers, connOpts, dltTopics(t))
	mux.Handle("/dlt", dh)
	mux.Handle("/dlt/", dh)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return srv, ln.Addr(), nil
}

func dltTopics(t events.Topics) []string {
	var out []string
	for _, in := range t.Inputs() {
		out = append(out, t.DeadLetter(in))
	}
	return out
}
