package backoff_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
)

// A retry loop: compute the n-th delay, wait it on a clock.
func Example() {
	p := backoff.Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond, Jitter: backoff.None}
	for n := 1; n <= 4; n++ {
		d := p.Delay(n)
		if err := (clock.Wall{}).Sleep(context.Background(), d); err != nil {
			return
		}
		fmt.Println(d)
	}
	// Output:
	// 1ms
	// 2ms
	// 4ms
	// 4ms
}
