package server_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestOpenAPI_Lint runs Redocly and Spectral (scripts/lint-openapi, the
// versions pinned in tools/openapi-lint/package-lock.json) on openapi.yaml:
// no errors and no warnings but the rules turned off with a reason in
// tools/openapi-lint/redocly.yaml.
func TestOpenAPI_Lint(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the linters start node")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found: CI must install Node.js (scripts/install-test-deps.sh)", tool)
			}
			t.Skipf("!!! %s not found: SKIPPING the OpenAPI linters (install Node.js, then bash scripts/lint-openapi) !!!", tool)
		}
	}
	out, err := exec.Command("bash", "../scripts/lint-openapi").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/lint-openapi: %v\n%s", err, out)
	}
}
