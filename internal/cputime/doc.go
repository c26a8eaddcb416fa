// Package cputime reads the CPU time this process has used: what the
// benchmarks divide by records for cpu-ns/record (the in-process cluster
// included) and what tests bound CPU use with.
package cputime
