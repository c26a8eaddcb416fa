package order

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bulwarkgo/bulwark/examples/orders/events"
)

// Generator places synthetic orders.
type Generator struct {
	RunID string   // prefix of the order IDs
	SKUs  []string // products to order
	Seed  uint64   // same seed, same orders
}

// Orders returns n orders: 1-5 units of a random SKU each.
func (g Generator) Orders(n int) []events.OrderCreated {
	r := rand.New(rand.NewPCG(g.Seed, 0x6f72646572))
	out := make([]events.OrderCreated, n)
	for i := range out {
		q := int32(1 + r.IntN(5))
		out[i] = events.OrderCreated{
			OrderID:     fmt.Sprintf("%s-%05d", g.RunID, i+1),
			CustomerID:  fmt.Sprintf("customer-%03d", r.IntN(50)),
			SKU:         g.SKUs[r.IntN(len(g.SKUs))],
			Quantity:    q,
			AmountCents: int64(q) * int64(500+r.IntN(4500)),
			CreatedAt:   time.Now().UTC().Truncate(time.Millisecond),
		}
	}
	return out
}

// Generate places orders at rate per second (0: as fast as possible).
func (s *Service) Generate(ctx context.Context, orders []events.OrderCreated, rate float64) error {
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	for _, o := range orders {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := s.Place(ctx, o); err != nil {
			return err
		}
	}
	return nil
}
