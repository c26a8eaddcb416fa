package saramametrics

import (
	"sync/atomic"

	"github.com/rcrowley/go-metrics"
)

// The go-metrics types handed to sarama for the figures the bridge reads.
// Each keeps exact running totals in atomics: sarama only writes them
// (Mark, Update, Inc), and the bridge reads Count and Sum at collection
// time. go-metrics' own types would cost more and say less: a
// StandardMeter joins a process-wide arbiter whose goroutine recomputes
// every meter's moving averages each 5 s, and a StandardHistogram keeps an
// exponentially decaying sample (a lock, math.Exp and a heap push per
// Update) whose Sum covers only what is left in the sample, not every
// value recorded. Rates, percentiles and the like are left zero: nothing
// in sarama reads them.

// total is a meter counting marks: requests, or bytes.
type total struct{ n atomic.Int64 }

func (t *total) Count() int64            { return t.n.Load() }
func (t *total) Mark(n int64)            { t.n.Add(n) }
func (t *total) Rate1() float64          { return 0 }
func (t *total) Rate5() float64          { return 0 }
func (t *total) Rate15() float64         { return 0 }
func (t *total) RateMean() float64       { return 0 }
func (t *total) Snapshot() metrics.Meter { s := &total{}; s.n.Store(t.Count()); return s }
func (t *total) Stop()                   {}

// level is a counter that goes up and down: requests in flight.
type level struct{ n atomic.Int64 }

func (l *level) Clear()                    { l.n.Store(0) }
func (l *level) Count() int64              { return l.n.Load() }
func (l *level) Dec(n int64)               { l.n.Add(-n) }
func (l *level) Inc(n int64)               { l.n.Add(n) }
func (l *level) Snapshot() metrics.Counter { s := &level{}; s.n.Store(l.Count()); return s }

// sumHistogram counts values and adds them up: latencies, or throttle
// times, in milliseconds.
type sumHistogram struct{ count, sum atomic.Int64 }

func (h *sumHistogram) Clear()                            { h.count.Store(0); h.sum.Store(0) }
func (h *sumHistogram) Count() int64                      { return h.count.Load() }
func (h *sumHistogram) Max() int64                        { return 0 }
func (h *sumHistogram) Mean() float64                     { return 0 }
func (h *sumHistogram) Min() int64                        { return 0 }
func (h *sumHistogram) Percentile(float64) float64        { return 0 }
func (h *sumHistogram) Percentiles(p []float64) []float64 { return make([]float64, len(p)) }
func (h *sumHistogram) Sample() metrics.Sample            { return metrics.NilSample{} }
func (h *sumHistogram) StdDev() float64                   { return 0 }
func (h *sumHistogram) Sum() int64                        { return h.sum.Load() }
func (h *sumHistogram) Variance() float64                 { return 0 }
func (h *sumHistogram) Update(v int64)                    { h.count.Add(1); h.sum.Add(v) }
func (h *sumHistogram) Snapshot() metrics.Histogram {
	s := &sumHistogram{}
	s.count.Store(h.Count())
	s.sum.Store(h.Sum())
	return s
}
