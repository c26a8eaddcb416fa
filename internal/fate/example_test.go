package fate_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/fate"
)

// A record failing with a retryable error is retried with backoff, then
// dead-lettered; an open breaker pauses it instead.
func Example() {
	limits := fate.Limits{MaxAttempts: 3, Backoff: backoff.Policy{Initial: 10 * time.Millisecond, Jitter: backoff.None}, PauseDelay: time.Second}
	s := fate.State{Limits: &limits}
	var d fate.Decision
	for _, err := range []error{
		errors.New("timeout"),
		bulwark.Pause(errors.New("breaker open"), 0),
		errors.New("timeout"),
		errors.New("timeout"),
		errors.New("timeout"),
	} {
		d, s = fate.Next(err, s)
		fmt.Println(d.Kind, d.Delay)
	}
	// Output:
	// retry 10ms
	// pause 1s
	// retry 10ms
	// retry 10ms
	// dead-letter 0s
}
