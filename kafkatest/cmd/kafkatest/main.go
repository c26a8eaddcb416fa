// Command kafkatest runs kafkatest's kfake cluster out of process, on
// loopback, until SIGINT or SIGTERM: a stand-in for a local Kafka to run
// bulwark's suites against through BULWARK_TEST_BROKERS, or for a demo.
//
//	go run ./kafkatest/cmd/kafkatest -brokers 3 -port 19092
//
// It prints the brokers' addresses on one line, comma-separated, once they
// listen. Topics are created by the clients (kfake has no auto-creation).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	brokers := flag.Int("brokers", 3, "number of brokers")
	port := flag.Int("port", 0, "port of the first broker, the others on the next ones (0: random ports)")
	flag.Parse()
	if err := run(*brokers, *port); err != nil {
		fmt.Fprintln(os.Stderr, "kafkatest:", err)
		os.Exit(1)
	}
}

func run(brokers, port int) error {
	if brokers < 1 {
		return fmt.Errorf("need at least one broker, got %d", brokers)
	}
	opts := []kfake.Opt{kfake.NumBrokers(brokers)}
	if port > 0 {
		ports := make([]int, brokers)
		for i := range ports {
			ports[i] = port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	<-ctx.Done()
	return nil
}
