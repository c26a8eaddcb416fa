package main

import (
	"bytes"
	"strings"
	"testing"
)

// The quickstart runs end to end on the embedded cluster: every record sent
// is consumed, and the program says so.
func TestQuickstartOnEmbeddedCluster(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	var out bytes.Buffer
	if err := run([]string{"-records", "300"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"embedded cluster at", "sent 300 records", "consumed 300 records"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestQuickstartRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-records", "0"}, {"-no-such-flag"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
