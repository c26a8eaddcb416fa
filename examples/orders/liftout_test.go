package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's "Lifting one service into your own code", step by step: the
// payment folder copied alone into a new module builds against this
// checkout. It fails when the service imports a package of the example
// that another module may not import (internal/...).
//
// Offline on purpose: GOPROXY=off and GOSUMDB=off make the go command take
// every dependency (and its checksum) from the module cache, which
// `go mod download` in this repository fills; GOWORK=off and
// GOTOOLCHAIN=local keep a go.work or a toolchain download out of it.
func TestPaymentLiftsOut(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the lifted-out service")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	mod := t.TempDir()

	// cp -r examples/orders/internal/payment <your module>/payment
	if err := os.CopyFS(filepath.Join(mod, "payment"), os.DirFS(filepath.Join("internal", "payment"))); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir, cmd.Env = mod, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("mod", "init", "example.com/shop")
	run("mod", "edit", "-replace", "github.com/bulwarkgo/bulwark="+root)
	run("build", "./payment")
}
