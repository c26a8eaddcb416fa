package logging

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every log line of the library puts its error under ErrorKey: no "err"
// key in a slog call or attribute, the examples' programs included.
func TestOneErrorKey(t *testing.T) {
	root := filepath.Join("..", "..")
	// A key "err" as a slog key-value pair or attribute, on the call's line
	// or a continuation line of it.
	bad := regexp.MustCompile(`(^|[(,]\s*)"err"\s*,|slog\.(Any|String)\("err"`)
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if bad.MatchString(line) {
				found = append(found, path+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Fatalf("log lines with the key \"err\" (want %q):\n%s", ErrorKey, strings.Join(found, "\n"))
	}
}
