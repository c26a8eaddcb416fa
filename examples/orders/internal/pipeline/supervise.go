package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// service is what the supervisor runs: Run until ctx ends.
type service interface {
	Run(ctx context.Context) error
}

// supervisor runs one service and restarts it when it stops or is crashed,
// the way a process manager (systemd, Kubernetes) would: every restart is a
// fresh instance with fresh in-memory state.
type supervisor struct {
	name   string
	build  func(connOpts []conn.Option) (service, error)
	killab bool // connections can be cut (embedded cluster)
	logger *slog.Logger

	mu       sync.Mutex
	cancel   context.CancelFunc
	dialer   *kafkatest.Dialer
	crashed  chan struct{}
	zombies  []chan struct{} // crashed instances still winding down
	crashes  int
	restarts int
	failures int
}

// run supervises until ctx ends.
func (s *supervisor) run(ctx context.Context, base []conn.Option) {
	for ctx.Err() == nil {
		opts := append([]conn.Option{}, base...)
		var d *kafkatest.Dialer
		if s.killab {
			d = kafkatest.NewDialer()
			opts = append(opts, conn.WithDialer(d))
		}
		svc, err := s.build(opts)
		if err != nil {
			s.logger.Error("cannot build service", "service", s.name, "error", err)
			return
		}
		runCtx, cancel := context.WithCancel(ctx)
		crashed := make(chan struct{})
		s.mu.Lock()
		s.cancel, s.dialer, s.crashed = cancel, d, crashed
		s.mu.Unlock()

		done := make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			defer close(done)
			errc <- svc.Run(runCtx)
		}()
		var runErr error
		select {
		case runErr = <-errc:
		case <-crashed:
			// A crashed process is gone at once. This instance's
			// connections are cut and its context cancelled, but it may
			// take a while to notice; the new one does not wait for it.
			s.mu.Lock()
			s.zombies = append(s.zombies, done)
			s.mu.Unlock()
		}
		cancel()
		if ctx.Err() != nil {
			<-done
			return
		}
		s.mu.Lock()
		s.restarts++
		if runErr != nil {
			s.failures++
		}
		s.mu.Unlock()
		if runErr != nil {
			s.logger.Warn("service stopped, restarting", "service", s.name, "error", runErr)
		} else {
			s.logger.Info("service restarting", "service", s.name)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// crash kills the service without a goodbye: its connections are cut
// first (no commit, no LeaveGroup, no EndTxn reaches the cluster), then it
// is stopped; the supervisor starts a new instance.
func (s *supervisor) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel == nil {
		return
	}
	if s.dialer != nil {
		s.dialer.Kill()
	}
	s.cancel()
	close(s.crashed)
	s.cancel = nil
	s.crashes++
}

// waitZombies waits up to d for crashed instances to return, and reports
// how many did not.
func (s *supervisor) waitZombies(d time.Duration) int {
	s.mu.Lock()
	zs := s.zombies
	s.mu.Unlock()
	deadline := time.After(d)
	left := 0
	for _, z := range zs {
		select {
		case <-z:
		case <-deadline:
			left++
		}
	}
	return left
}

func (s *supervisor) counts() (crashes, restarts, failures int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crashes, s.restarts, s.failures
}
