package metrics_test

import (
	"strings"
	"testing"
)

func TestAlerts_PromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	out := runTool(t, "", promtool, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules did not report SUCCESS:\n%s", out)
	}
}

func TestAlerts_PromtoolTestRules(t *testing.T) {
	// alerts_test.yml feeds every alert series that must fire it and series
	// that must not; promtool exits non-zero on any mismatch of alerts,
	// labels or annotations.
	promtool := requireTool(t, "promtool")
	out := runTool(t, "", promtool, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}
