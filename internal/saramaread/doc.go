// Package saramaread reads the partitions of one topic from a position
// with sarama's partition consumer, under read_committed, and finds where
// a partition's committed records end: what package table restores from.
// It keeps sarama's types out of the feature package.
package saramaread
