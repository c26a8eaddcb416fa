// Package producertest has recording fakes of the producer package's
// producers, for unit tests of code that sends records: [Producer] has the
// method set of *producer.Producer, [TransactionalProducer] that of
// *producer.TransactionalProducer. They record what was sent, committed and
// aborted, can be told to fail, and need no cluster.
//
// Code under test should take a [producer.Sender] (or a
// [producer.TransactionalSender]), which both the real producer and the
// fake satisfy, or a smaller interface of its own.
package producertest
