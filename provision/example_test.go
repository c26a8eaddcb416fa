package provision_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/provision"
)

func Example() {
	cluster, err := kafkatest.Start(kafkatest.WithBrokers(1), kafkatest.WithTopic("payments", 3))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	ctx := context.Background()
	quiet := provision.WithLogger(slog.New(slog.DiscardHandler))

	topics := []provision.Topic{
		{Name: "orders", Partitions: 6, ReplicationFactor: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	report, err := provision.Ensure(ctx, cluster.Brokers(), topics, quiet)
	fmt.Println("created:", report.Created, err)

	report, err = provision.Ensure(ctx, cluster.Brokers(), topics, quiet)
	fmt.Println("existing:", report.Existing, err)

	// "payments" exists with 3 partitions; a declaration asking for 6 is
	// reported, not applied.
	_, err = provision.Ensure(ctx, cluster.Brokers(), []provision.Topic{{Name: "payments", Partitions: 6}}, quiet)
	fmt.Println(errors.Is(err, provision.ErrDrift))
	fmt.Println(err)
	// Output:
	// created: [orders] <nil>
	// existing: [orders] <nil>
	// true
	// provision: topic drifted from its declaration: payments: partitions: want 6, have 3
}
