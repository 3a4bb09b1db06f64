// Package webhooktest checks webhook deliveries with the Standard Webhooks
// reference library (npm standardwebhooks, run by node from
// tools/webhook-verify), so signatures are judged by code this project did
// not write. Without node or the installed package, Available fails the
// test when CI=true and otherwise logs a loud message.
package webhooktest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/safereset/safereset/internal/nodetest"
)

// Delivery is one request as a receiver got it; Name keys its verdict.
type Delivery struct {
	Name    string            `json:"name"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
}

// tool returns node's path and the verifier's directory, or why they
// cannot be used.
func tool() (node, dir string, err error) {
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "..", "tools", "webhook-verify")
	if node, err = exec.LookPath("node"); err != nil {
		return "", "", err
	}
	if _, err = os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		return "", "", err
	}
	return node, dir, nil
}

// Available reports whether the reference verifier can run. When it
// cannot, it fails t under CI=true, and otherwise logs a SKIPPING line and
// returns false: the caller skips (t.SkipNow) or leaves out only its check.
func Available(t testing.TB) bool {
	t.Helper()
	if _, _, err := tool(); err != nil {
		msg := "SKIPPING the npm standardwebhooks verification: needs node and `npm ci` in tools/webhook-verify (" + err.Error() + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg)
		return false
	}
	return true
}

// Verify has the reference library verify each delivery under secret
// (whsec_…) and returns its verdicts by Delivery.Name: "ok" or
// "error: <message>". Call Available first.
func Verify(t testing.TB, secret string, ds []Delivery) map[string]string {
	t.Helper()
	node, dir, err := tool()
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(struct {
		Secret     string     `json:"secret"`
		Deliveries []Delivery `json:"deliveries"`
	}{secret, ds})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := nodetest.Run(t, node, dir, "verify.mjs", in)
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	return res
}

// CheckVerdicts fails t unless every delivery named in valid verified,
// the one named "tampered" (a body changed after signing) failed on its
// signature and the one named "old" (a timestamp beyond the tolerance)
// failed as too old.
func CheckVerdicts(t testing.TB, res map[string]string, valid ...string) {
	t.Helper()
	for _, name := range valid {
		if res[name] != "ok" {
			t.Errorf("%s: the reference library refused a genuine delivery: %q", name, res[name])
		}
	}
	if !strings.Contains(res["tampered"], "No matching signature") {
		t.Errorf("tampered body: %q, want a signature failure", res["tampered"])
	}
	if !strings.Contains(res["old"], "too old") {
		t.Errorf("old timestamp: %q, want too old", res["old"])
	}
}
