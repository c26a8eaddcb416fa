package table

// WithProbeHook calls fn each time a restoring partition, idle, asks the
// broker how far it can read: next is the first offset it would receive,
// or the last stable offset.
func WithProbeHook(fn func(partition int32, next int64)) Option {
	return func(c *config) error { c.onProbe = fn; return nil }
}
