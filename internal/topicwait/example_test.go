package topicwait_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulwarkgo/bulwark/internal/topicwait"
)

func Example() {
	errUnknown := errors.New("unknown topic")
	err := topicwait.Await(context.Background(), topicwait.Check{
		Missing:    func([]string) ([]string, error) { return []string{"orders"}, nil },
		Required:   []string{"orders"},
		DeadLetter: []string{"orders.dlt"},
		Unknown:    errUnknown,
		Log:        slog.Default(),
	})
	fmt.Println(errors.Is(err, errUnknown), err)
	// Output: true unknown topic: orders (create it, or use WithWaitForTopics to wait for it)
}
