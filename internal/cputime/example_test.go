package cputime_test

import (
	"fmt"

	"github.com/bulwarkgo/bulwark/internal/cputime"
)

func Example() {
	before := cputime.Process()
	sum := 0
	for i := range 1_000_000 {
		sum += i
	}
	fmt.Println(sum > 0, cputime.Process() >= before)
	// Output: true true
}
