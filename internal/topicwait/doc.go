// Package topicwait is the one check, before a group member first joins,
// that the topics it reads exist: a missing one fails with the caller's
// "unknown topic" error or is waited for, visibly (a WARN line at growing
// intervals, at most every [MaxInterval], and a hook for the caller's
// Stats and gauge). A missing dead-letter topic is only warned about: it
// matters once a record must be dead-lettered. consumer and eos share it.
package topicwait
