package resilience_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
)

func TestFaultMatrix(t *testing.T) {
	cells := []struct {
		cell faultmatrix.Cell
		run  func(t *testing.T)
	}{
		{faultmatrix.Cell{Fault: "downstream down 3 s, then failing 1 call in 4", Component: "resilience breaker (consumer)",
			Bound:   "every record processed within 60 s of the downstream's return; CPU under 25% of a core while open",
			Outcome: "breaker open: pause-class ErrBreakerOpen, partitions paused, probes only; closed after",
			Records: "0 lost, 0 dead-lettered, nothing committed during the outage"},
			testConsumerPausesWhileBreakerIsOpen},
		{faultmatrix.Cell{Fault: "downstream down 45 s (virtual), 10 s open delay", Component: "resilience breaker (consumertest, fake clock)",
			Bound:   "under 5 s of real time; handled within 45-65 s of virtual time",
			Outcome: "pauses for the breaker's remaining delay, half-open probe per open delay, handled",
			Records: "0 dead-lettered, downstream called 3 times + one probe per open delay"},
			testHarnessAndBreakerShareAFakeClock},
	}
	for _, c := range cells {
		t.Run(c.cell.Fault+"/"+c.cell.Component, func(t *testing.T) {
			faultmatrix.Report(t, c.cell)
			c.run(t)
		})
	}
}
