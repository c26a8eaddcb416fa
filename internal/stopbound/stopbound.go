// Package stopbound bounds a stop: once the owner's context ended, what
// is stopping gets a margin to finish; shortly before it ends the
// connections still in use are cut (sarama's calls take no context, so
// cutting is what makes one in progress return), and at its end the owner
// returns whatever still runs. The consumer and eos stop this way.
package stopbound

import (
	"context"
	"log/slog"
	"time"
)

// Wait returns the first value on result. Once ctx has ended it waits at
// most margin for it: at margin-lead it calls cut (once), at margin it
// returns nil, logging that what still runs finishes in the background.
// what names the owner in the log lines.
func Wait(ctx context.Context, result <-chan error, margin, lead time.Duration, cut func(), log *slog.Logger, what string) error {
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
	}
	deadline := time.Now().Add(margin)
	cutTimer := time.NewTimer(time.Until(deadline) - lead)
	defer cutTimer.Stop()
	select {
	case err := <-result:
		return err
	case <-cutTimer.C:
	}
	log.WarnContext(ctx, what+": stopping takes too long; cutting the connections to Kafka")
	cut()
	last := time.NewTimer(time.Until(deadline))
	defer last.Stop()
	select {
	case err := <-result:
		return err
	case <-last.C:
		log.ErrorContext(ctx, what+" did not stop within its bound; returning while handlers that ignore their context finish in the background")
		return nil
	}
}
