// Command orders runs bulwark's order pipeline end to end:
//
//	go run ./examples/orders                 # embedded cluster + in-memory schema registry
//	go run ./examples/orders -chaos          # with broker faults, crashes and a gateway outage
//	go run ./examples/orders -brokers kafka:9092 -registry http://registry:8081
//
// It places orders, lets the services process them, prints progress and a
// summary with invariant checks, and exits with status 1 if one fails.
// See README.md for the services and how to lift one into your own code.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/deadletters"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/pipeline"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/topics"
	"github.com/bulwarkgo/bulwark/producer"
)

func main() {
	code, err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
	}
	os.Exit(code)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg       pipeline.Config
		brokers   = fs.String("brokers", os.Getenv("KAFKA_BROKERS"), "comma-separated brokers of a real cluster (default: $KAFKA_BROKERS, else an embedded cluster)")
		logLevel  = fs.String("log", "error", "log level: debug, info, warn, error")
		replayDLT = fs.String("replay-dlt", "", "inspect the dead-letter topics and replay this one (\"list\" to only inspect), then exit; needs -brokers")
	)
	var (
		useTLS       = fs.Bool("tls", false, "connect to -brokers over TLS (trusting the system roots unless -tls-ca)")
		tlsCA        = fs.String("tls-ca", "", "PEM file of the CA certificates to trust (implies -tls)")
		tlsCert      = fs.String("tls-cert", "", "PEM file of the client certificate, for mutual TLS (with -tls-key)")
		tlsKey       = fs.String("tls-key", "", "PEM file of the client certificate's private key")
		saslMech     = fs.String("sasl-mechanism", "", "SASL mechanism for -brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL)")
		saslUser     = fs.String("sasl-user", os.Getenv("KAFKA_SASL_USER"), "SASL user (default: $KAFKA_SASL_USER)")
		saslPassword = fs.String("sasl-password", "", "SASL password (default: $KAFKA_SASL_PASSWORD; prefer the variable, flags show in ps)")
	)
	fs.StringVar(&cfg.Registry, "registry", os.Getenv("SCHEMA_REGISTRY_URL"), "schema registry URL (default: $SCHEMA_REGISTRY_URL, else an in-memory registry)")
	fs.IntVar(&cfg.Orders, "orders", 200, "orders to place")
	fs.Float64Var(&cfg.Rate, "rate", 100, "orders per second (0: as fast as possible)")
	fs.BoolVar(&cfg.Chaos, "chaos", false, "inject broker faults, service crashes and a gateway outage")
	fs.StringVar(&cfg.Listen, "listen", "", "address serving /metrics (Prometheus), /orders, /orders/{id}, /dlt, e.g. 127.0.0.1:8080")
	fs.StringVar(&cfg.TopicPrefix, "topic-prefix", "", "prefix of every topic (default on a real cluster: a fresh one per run)")
	fs.StringVar(&cfg.Dedup, "dedup", "memory", "dedup store: memory, redis or postgres")
	fs.StringVar(&cfg.View, "view", "memory", "where the projection keeps the order view: memory or postgres (-postgres)")
	fs.BoolVar(&cfg.Outbox, "outbox", false, "place orders through a transactional outbox in PostgreSQL (-postgres) and an outbox relay")
	fs.StringVar(&cfg.RedisAddr, "redis", envOr("BULWARK_REDIS_ADDR", "127.0.0.1:6379"), "Redis address for -dedup redis")
	fs.StringVar(&cfg.PostgresDSN, "postgres", envOr("BULWARK_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL DSN for -dedup postgres, -outbox and -view postgres")
	fs.IntVar(&cfg.Poison, "poison", 2, "undecodable records to send to the orders topic (they end in orders.dlt)")
	fs.IntVar(&cfg.DeclinePercent, "decline", 10, "percent of orders the payment gateway declines")
	fs.Int64Var(&cfg.StockPerSKU, "stock", 60, "initial units of each of the 8 SKUs")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "order generator seed")
	fs.DurationVar(&cfg.Timeout, "timeout", 90*time.Second, "how long to wait for the orders to settle")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return 2, err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Progress = stdout
	if *tlsCA != "" || *tlsCert != "" || *tlsKey != "" {
		cfg.Conn = append(cfg.Conn, conn.WithTLSFiles(*tlsCA, *tlsCert, *tlsKey))
	} else if *useTLS {
		cfg.Conn = append(cfg.Conn, conn.WithTLS(nil))
	}
	if *saslMech != "" {
		password := *saslPassword
		if password == "" {
			password = os.Getenv("KAFKA_SASL_PASSWORD")
		}
		cfg.Conn = append(cfg.Conn, conn.WithSASL(*saslMech, *saslUser, password))
	}
	if len(cfg.Conn) > 0 {
		if *brokers == "" {
			return 2, errors.New("the TLS and SASL flags are for a real cluster: they need -brokers")
		}
		// Bad files or credentials are reported now, not as a refused
		// connection later.
		if _, err := conn.Build(cfg.Conn...); err != nil {
			return 2, err
		}
	}
	if *brokers != "" {
		cfg.Brokers = strings.Split(*brokers, ",")
		if cfg.TopicPrefix == "" && *replayDLT == "" {
			cfg.TopicPrefix = fmt.Sprintf("orders-demo-%d.", time.Now().Unix())
			fmt.Fprintf(stdout, "topic prefix %q\n", cfg.TopicPrefix)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	if *replayDLT != "" {
		return replay(ctx, cfg, *replayDLT, stdout)
	}

	summary, err := pipeline.Run(ctx, cfg)
	if err != nil {
		return 1, err
	}
	summary.Print(stdout)
	return exitCode(summary)
}

// exitCode maps a run's summary to the command's exit code: 1 when an
// invariant failed (or none was checked), 0 otherwise.
func exitCode(s *pipeline.Summary) (int, error) {
	if !s.OK() {
		return 1, errors.New("an invariant failed")
	}
	return 0, nil
}

// replay lists the dead-letter records of a real cluster's pipeline and
// sends those of one dead-letter topic back to their source topic.
func replay(ctx context.Context, cfg pipeline.Config, topic string, out io.Writer) (int, error) {
	if len(cfg.Brokers) == 0 {
		return 2, errors.New("-replay-dlt needs -brokers (the embedded cluster is gone when a run ends; use the /dlt endpoint of a running pipeline instead)")
	}
	tc, err := topics.New(cfg.Brokers, cfg.Conn...)
	if err != nil {
		return 1, err
	}
	t := events.Topics{Prefix: cfg.TopicPrefix}
	var dlts []string
	for _, in := range t.Inputs() {
		dlts = append(dlts, t.DeadLetter(in))
	}
	recs, err := deadletters.List(ctx, tc, dlts...)
	if err != nil {
		return 1, err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(recs); err != nil {
		return 1, err
	}
	if topic == "list" {
		return 0, nil
	}
	var chosen []deadletters.Record
	for _, r := range recs {
		if r.DLT == topic {
			chosen = append(chosen, r)
		}
	}
	p, err := producer.New(cfg.Brokers, producer.WithConnection(cfg.Conn...))
	if err != nil {
		return 1, err
	}
	defer p.Close()
	n, err := deadletters.Replay(ctx, func(ctx context.Context, m *bulwark.Message) error {
		_, err := p.Send(ctx, m)
		return err
	}, chosen)
	fmt.Fprintf(out, "replayed %d records of %s\n", n, topic)
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
