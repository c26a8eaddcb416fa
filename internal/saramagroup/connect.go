package saramagroup

import (
	"context"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Connect is [New] bounded by ctx and s.ConnectTimeout, as
// [saramax.Connect] bounds any sarama call; explain classifies New's
// error.
func Connect(ctx context.Context, brokers []string, group string, config *Config, s conn.Settings, explain func(error) error) (*Group, error) {
	// New copies this config for each of its clients; aborting it cuts
	// them all while they connect.
	sc := *config.sarama
	cut := saramax.MakeAbortable(&sc)
	return saramax.Connect(ctx, s, cut.Abort,
		func() (*Group, error) { return New(brokers, group, &Config{sarama: &sc}) },
		func(g *Group) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = g.Close(ctx)
		},
		explain)
}
