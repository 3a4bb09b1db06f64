package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps_NoHTTPFrameworkInCmd: the wiring hands dependencies to server/
// and metrics/ and never touches Fiber or the Prometheus client itself, so
// swapping either stays inside one package.
func TestDeps_NoHTTPFrameworkInCmd(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go tool not found on PATH")
		}
		t.Skip("!!! SKIPPED: go tool not found on PATH; cannot list the imports of cmd/safereset !!!")
	}
	out, err := exec.Command(gobin, "list", "-f", "{{join .Imports \"\\n\"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) == 0 {
		t.Fatal("go list returned no imports")
	}
	for _, imp := range imports {
		for _, banned := range []string{"github.com/gofiber/", "github.com/valyala/fasthttp", "github.com/prometheus/client_golang"} {
			if strings.HasPrefix(imp, banned) {
				t.Errorf("cmd/safereset imports %s directly; it belongs behind server/ or metrics/", imp)
			}
		}
	}
}
