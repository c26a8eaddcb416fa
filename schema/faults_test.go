package schema_test

// Goroutines: each consumer pipeline test owns one goroutine running
// consumer.Run, which sends its result on runErr; the hanging listener's
// accept loop is owned by its test and ends when the listener closes.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
	"github.com/twmb/franz-go/pkg/kgo"
)

const faultSchema = `{"type":"record","name":"Order","namespace":"faults","fields":[{"name":"id","type":"string"}]}`

// Generous bounds: the machine is shared and timings are noisy.
const (
	encodeBound   = 5 * time.Second  // Serialize with the registry down
	recoveryBound = 20 * time.Second // every record processed after the registry is back
)

func TestFaultMatrix(t *testing.T) {
	cells := []struct {
		cell faultmatrix.Cell
		run  func(t *testing.T)
	}{
		{faultmatrix.Cell{Fault: "registry down 3 s", Component: "schema serde (consumer)",
			Bound:   "all records processed within 20 s of the registry's return; Run returns within 10 s",
			Outcome: "pause-class *schema.UnavailableError, partition paused, resumed",
			Records: "0 lost, 0 dead-lettered, records arriving during the outage processed"},
			testConsumerRidesOutRegistryOutage},
		{faultmatrix.Cell{Fault: "registry down 3 s", Component: "schema serde (producer encode)",
			Bound:   "Serialize returns within 5 s",
			Outcome: "pause-class *schema.UnavailableError; encodes once the registry is back",
			Records: "-"},
			testEncodeWithRegistryDown},
		{faultmatrix.Cell{Fault: "registry port refusing connections", Component: "schema serde",
			Bound:   "Serialize and Deserialize return within 5 s",
			Outcome: "pause-class *schema.UnavailableError (connection refused)",
			Records: "-"},
			testRegistryRefusing},
		{faultmatrix.Cell{Fault: "registry accepting TCP, never answering", Component: "schema serde",
			Bound:   "Serialize and Deserialize return within 5 s (WithTimeout 300 ms, 1 retry)",
			Outcome: "pause-class *schema.UnavailableError (timeout)",
			Records: "-"},
			testRegistryHanging},
		{faultmatrix.Cell{Fault: "registry answering 5xx / 429", Component: "schema serde",
			Bound:   "Serialize and Deserialize return within 5 s",
			Outcome: "pause-class *schema.UnavailableError wrapping the *schema.RegistryError",
			Records: "-"},
			testRegistryFailing},
		{faultmatrix.Cell{Fault: "record with a schema ID unknown to a healthy registry (404)", Component: "schema serde (consumer)",
			Bound:   "all records finished within 20 s",
			Outcome: "permanent *schema.DecodeError (ErrSchemaNotFound)",
			Records: "that record dead-lettered, 0 others lost or dead-lettered"},
			testConsumerDeadLettersUnknownSchemaID},
		{faultmatrix.Cell{Fault: "record not in the wire format, or undecodable", Component: "schema serde",
			Bound:   "Deserialize returns at once",
			Outcome: "permanent *schema.DecodeError (ErrWireFormat, ErrMalformedPayload)",
			Records: "-"},
			testUndecodableRecordsArePermanent},
		{faultmatrix.Cell{Fault: "schema incompatible with the subject", Component: "schema serde (producer encode)",
			Bound:   "Serialize returns within 5 s",
			Outcome: "permanent error matching ErrIncompatibleSchema",
			Records: "-"},
			testIncompatibleSchemaIsPermanent},
	}
	for _, c := range cells {
		t.Run(c.cell.Fault+"/"+c.cell.Component, func(t *testing.T) {
			faultmatrix.Report(t, c.cell)
			c.run(t)
		})
	}
}

// registryBehindProxy starts an in-memory registry with a proxy in front
// that the test can cut and restore, and a client going through the proxy.
func registryBehindProxy(t *testing.T, opts ...schema.ClientOption) (*schematest.Server, *servicetest.Proxy, *schema.Client) {
	t.Helper()
	srv := schematest.NewServer()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := servicetest.NewProxy(t, u.Host)
	client := must(schema.NewClient("http://"+proxy.Addr(), opts...))
	t.Cleanup(func() { _ = client.Close() })
	return srv, proxy, client
}

// timed runs fn and fails t unless it returns within bound.
func timed(t *testing.T, bound time.Duration, what string, fn func()) {
	t.Helper()
	start := time.Now()
	fn()
	if took := time.Since(start); took > bound {
		t.Fatalf("%s took %s, want at most %s", what, took.Round(time.Millisecond), bound)
	}
}

func order(id string) map[string]any { return map[string]any{"id": id} }

// ordersPipeline is a consumer whose handler decodes each record with the
// schema serde and records the order IDs it processed.
type ordersPipeline struct {
	cluster *kafkatest.Cluster
	topic   string
	writer  *schema.AvroSerde // registers and encodes, not through the proxy
	kgo     *kgo.Client

	c      *consumer.Consumer
	cancel context.CancelFunc
	runErr chan error

	mu        sync.Mutex
	processed map[string]int
	pauses    atomic.Int64 // pause-class decode errors
	otherErrs atomic.Int64 // decode errors of any other class
	lastOther atomic.Value // error
}

func newOrdersPipeline(t *testing.T, srv *schematest.Server, reader *schema.Client) *ordersPipeline {
	t.Helper()
	p := &ordersPipeline{topic: "orders", processed: map[string]int{}, runErr: make(chan error, 1)}
	p.cluster = kafkatest.NewCluster(t, kafkatest.WithBrokers(1),
		kafkatest.WithTopic(p.topic, 2), kafkatest.WithTopic(p.topic+".dlt", 1))
	direct := must(schema.NewClient(srv.URL()))
	t.Cleanup(func() { _ = direct.Close() })
	p.writer = must(schema.NewAvroSerde(direct, schema.WithSchema(faultSchema)))
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.cluster.Brokers()...), kgo.DefaultProduceTopic(p.topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p.kgo = cl

	serde := must(schema.NewAvroSerde(reader))
	handler := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		v, err := serde.Deserialize(ctx, msg.Topic, false, msg.Value)
		if err != nil {
			if bulwark.ClassOf(err) == bulwark.ClassPause {
				p.pauses.Add(1)
			} else {
				p.otherErrs.Add(1)
				p.lastOther.Store(err)
			}
			return err
		}
		p.mu.Lock()
		p.processed[v.(map[string]any)["id"].(string)]++
		p.mu.Unlock()
		return nil
	})
	// Retries are quick and few, so that a registry error of the wrong
	// class would dead-letter records within the test.
	p.c, err = consumer.New(p.cluster.Brokers(), "orders-projector", []string{p.topic}, handler,
		consumer.WithConnection(p.cluster.ConnOptions()...),
		consumer.WithRetry(3, 10*time.Millisecond, 50*time.Millisecond),
		consumer.WithPauseDelay(200*time.Millisecond),
		consumer.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// produce writes the orders with the given IDs, encoded by the writer.
func (p *ordersPipeline) produce(t *testing.T, ids ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(ids))
	for i, id := range ids {
		recs[i] = &kgo.Record{Key: []byte(id), Value: must(p.writer.Serialize(ctx, p.topic, false, order(id)))}
	}
	p.produceRaw(t, recs...)
}

func (p *ordersPipeline) produceRaw(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.kgo.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (p *ordersPipeline) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.runErr <- p.c.Run(ctx) }()
}

// stop ends Run and fails t unless it returns nil within 10 s.
func (p *ordersPipeline) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context ending")
	}
}

func (p *ordersPipeline) processedIDs() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.processed))
	for k, v := range p.processed {
		out[k] = v
	}
	return out
}

func (p *ordersPipeline) deadLetters(t *testing.T) []*bulwark.Message {
	t.Helper()
	dlt, err := p.cluster.ReadTopic(context.Background(), p.topic+".dlt")
	if err != nil {
		t.Fatal(err)
	}
	return dlt
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The registry goes away before the consumer has fetched any writer
// schema and stays away for 3 s while records keep arriving: every decode
// fails for want of the registry, so the consumer pauses instead of
// retrying and dead-lettering, and processes everything once it is back.
func testConsumerRidesOutRegistryOutage(t *testing.T) {
	const outage = 3 * time.Second
	srv, proxy, reader := registryBehindProxy(t,
		schema.WithTimeout(time.Second), schema.WithRetries(1), schema.WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	p := newOrdersPipeline(t, srv, reader)
	before, during := ids("before-", 10), ids("during-", 10)
	p.produce(t, before...)

	proxy.Cut()
	cutAt := time.Now()
	p.start()
	waitUntil(t, 15*time.Second, "decodes to fail for want of the registry", func() bool { return p.pauses.Load() > 0 })
	for _, id := range during { // records keep arriving during the outage
		p.produce(t, id)
		time.Sleep(outage / 2 / time.Duration(len(during)))
	}
	sawPaused := false
	for time.Since(cutAt) < outage {
		for _, ps := range p.c.Stats().Partitions {
			sawPaused = sawPaused || ps.Paused
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := len(p.processedIDs()); got != 0 {
		t.Fatalf("%d records processed while the registry was down", got)
	}
	pausesDuringOutage, down := p.pauses.Load(), time.Since(cutAt)

	proxy.Restore()
	all := append(append([]string{}, before...), during...)
	timed(t, recoveryBound, "processing every record after the registry came back", func() {
		waitUntil(t, recoveryBound+time.Second, "every record to be processed", func() bool { return len(p.processedIDs()) == len(all) })
	})
	stats := p.c.Stats()
	p.stop(t)

	processed := p.processedIDs()
	for _, id := range all {
		if processed[id] == 0 {
			t.Errorf("order %s lost", id)
		}
	}
	if n := p.otherErrs.Load(); n != 0 {
		t.Errorf("%d decode errors not of the pause class, last: %v", n, p.lastOther.Load())
	}
	if dlt := p.deadLetters(t); len(dlt) != 0 || stats.DeadLettered != 0 {
		t.Errorf("%d records on the dead-letter topic, Stats.DeadLettered %d; want 0", len(dlt), stats.DeadLettered)
	}
	if stats.Paused == 0 || !sawPaused {
		t.Errorf("Stats.Paused %d, a partition seen paused: %v; want the consumer to pause", stats.Paused, sawPaused)
	}
	// A pause, not a busy loop: with a 200 ms pause delay and 2
	// partitions, a 3 s outage is some 30 attempts.
	if max := int64(2 * (down/(200*time.Millisecond) + 5)); pausesDuringOutage > max {
		t.Errorf("%d decode attempts during a %s outage, want at most %d", pausesDuringOutage, down, max)
	}
	t.Logf("outage %s: %d paused decode attempts; after it all %d records processed; stats: paused %d, retried %d, dead-lettered %d",
		down.Round(time.Millisecond), pausesDuringOutage, len(all), stats.Paused, stats.Retried, stats.DeadLettered)
}

func testEncodeWithRegistryDown(t *testing.T) {
	_, proxy, client := registryBehindProxy(t)
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(faultSchema)))
	proxy.Cut()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	timed(t, encodeBound, "Serialize with the registry down", func() {
		_, err = serde.Serialize(ctx, "orders", false, order("o-1"))
	})
	requireUnavailable(t, err)

	proxy.Restore()
	data, err := serde.Serialize(ctx, "orders", false, order("o-1"))
	if err != nil {
		t.Fatalf("Serialize after the registry came back: %v", err)
	}
	if v, err := serde.Deserialize(ctx, "orders", false, data); err != nil || v.(map[string]any)["id"] != "o-1" {
		t.Fatalf("round trip after the outage: %v, %v", v, err)
	}
}

// requireBothUnavailable checks Serialize (registering) and Deserialize
// (fetching a writer schema) against client, within encodeBound each.
func requireBothUnavailable(t *testing.T, client *schema.Client) []error {
	t.Helper()
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(faultSchema)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var encErr, decErr error
	timed(t, encodeBound, "Serialize", func() { _, encErr = serde.Serialize(ctx, "orders", false, order("o-1")) })
	requireUnavailable(t, encErr)
	timed(t, encodeBound, "Deserialize", func() { _, decErr = serde.Deserialize(ctx, "orders", false, []byte{0, 0, 0, 0, 1, 2, 'x', 'y'}) })
	requireUnavailable(t, decErr)
	return []error{encErr, decErr}
}

func testRegistryRefusing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connections are refused
	client := must(schema.NewClient("http://"+addr, schema.WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond)))
	defer client.Close()
	for _, err := range requireBothUnavailable(t, client) {
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Errorf("error %v does not carry the *net.OpError", err)
		}
	}
}

func testRegistryHanging(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() { // accepts and never answers
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	client := must(schema.NewClient("http://"+ln.Addr().String(),
		schema.WithTimeout(300*time.Millisecond), schema.WithRetries(1), schema.WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond)))
	defer func() {
		_ = client.Close()
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	}()
	for _, err := range requireBothUnavailable(t, client) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not say the attempt timed out", err)
		}
	}
}

func testRegistryFailing(t *testing.T) {
	for _, status := range []int{500, 503, 429} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := httptest.NewServer(fixedAnswer(status, fmt.Sprintf(`{"error_code":%d,"message":"failing"}`, status)))
			defer srv.Close()
			client := must(schema.NewClient(srv.URL, schema.WithRetryBackoff(10*time.Millisecond, 50*time.Millisecond)))
			defer client.Close()
			for _, err := range requireBothUnavailable(t, client) {
				var re *schema.RegistryError
				if !errors.As(err, &re) || re.StatusCode != status {
					t.Errorf("error %v does not carry the registry's %d answer", err, status)
				}
			}
		})
	}
}

// A record naming a schema ID the (healthy) registry does not know is the
// record's fault: that one is dead-lettered, the others are processed.
func testConsumerDeadLettersUnknownSchemaID(t *testing.T) {
	srv := schematest.NewServer()
	t.Cleanup(srv.Close)
	reader := must(schema.NewClient(srv.URL()))
	t.Cleanup(func() { _ = reader.Close() })
	p := newOrdersPipeline(t, srv, reader)
	good := ids("good-", 6)
	p.produce(t, good[:3]...)
	p.produceRaw(t, &kgo.Record{Key: []byte("poison"), Value: []byte{0, 0, 0, 0x30, 0x39, 2, 'x'}})
	p.produce(t, good[3:]...)
	p.start()
	var dlt []*bulwark.Message
	waitUntil(t, recoveryBound, "the good records processed and the poison one dead-lettered", func() bool {
		if len(p.processedIDs()) < len(good) {
			return false
		}
		dlt = p.deadLetters(t)
		return len(dlt) > 0
	})
	p.stop(t)
	if len(dlt) != 1 || string(dlt[0].Key) != "poison" {
		t.Fatalf("dead letters %v, want the poison record only", dlt)
	}
	if class, _ := dlt[0].Header(bulwark.HeaderDLTErrorClass); string(class) != "permanent" {
		t.Errorf("dead letter of class %q, want permanent", class)
	}
	if n := p.pauses.Load(); n != 0 {
		t.Errorf("%d pause-class decode errors with a healthy registry", n)
	}
	for _, id := range good {
		if p.processedIDs()[id] == 0 {
			t.Errorf("order %s lost", id)
		}
	}
}

func testUndecodableRecordsArePermanent(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(faultSchema)))
	good := must(serde.Serialize(ctx, "orders", false, order("o-1")))
	for name, tc := range map[string]struct {
		data  []byte
		cause error
	}{
		"bad magic byte": {append([]byte{7}, good[1:]...), schema.ErrWireFormat},
		"truncated":      {good[:len(good)-1], schema.ErrMalformedPayload},
	} {
		_, err := serde.Deserialize(ctx, "orders", false, tc.data)
		t.Run(name, func(t *testing.T) { requirePermanentDecode(t, err, tc.cause) })
	}
}

func testIncompatibleSchemaIsPermanent(t *testing.T) {
	_, client := newRegistry(t, schematest.WithCompatibility(schema.CompatBackward))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := must(schema.NewAvroSerde(client, schema.WithSchema(faultSchema))).Serialize(ctx, "orders", false, order("o-1")); err != nil {
		t.Fatal(err)
	}
	// A new required field without a default breaks BACKWARD.
	v2 := `{"type":"record","name":"Order","namespace":"faults","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(v2)))
	var err error
	timed(t, encodeBound, "Serialize", func() {
		_, err = serde.Serialize(ctx, "orders", false, map[string]any{"id": "o-2", "qty": 1})
	})
	if !errors.Is(err, schema.ErrIncompatibleSchema) || bulwark.ClassOf(err) != bulwark.ClassPermanent {
		t.Fatalf("error %v (class %v), want ErrIncompatibleSchema of the permanent class", err, bulwark.ClassOf(err))
	}
	if errors.Is(err, schema.ErrRegistryUnavailable) {
		t.Fatalf("error %v says the registry is unavailable", err)
	}
}
