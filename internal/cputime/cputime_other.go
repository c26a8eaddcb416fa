//go:build !unix

package cputime

import "time"

// Supported reports whether Process reads the OS's accounting here: this
// OS has no getrusage.
const Supported = false

// Process returns 0: this OS has no getrusage.
func Process() time.Duration { return 0 }
