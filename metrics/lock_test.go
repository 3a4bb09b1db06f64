package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
)

// TestAccountLocks: the lock counter exists at 0 before the first lock,
// counts each, is nil-safe, and passes promtool with the page routes'
// series beside it.
func TestAccountLocks(t *testing.T) {
	f := newFixture(t)
	if got := f.value(t, "safereset_account_locks_total", nil); got != 0 {
		t.Fatalf("locks at start = %v, want 0", got)
	}
	f.m.AccountLock()
	f.m.AccountLock()
	if got := f.value(t, "safereset_account_locks_total", nil); got != 2 {
		t.Errorf("locks = %v, want 2", got)
	}
	var nilM *metrics.Metrics
	nilM.AccountLock()

	// The pages are counted under their own fixed routes.
	f.m.Response(safereset.RouteNotMe, 200, nil, time.Millisecond)
	f.m.Response(safereset.RouteNotMe, 400, []safereset.Code{safereset.ER352}, time.Millisecond)
	f.m.Response(safereset.RoutePage, 403, []safereset.Code{metrics.Other}, time.Millisecond)
	for _, tc := range []struct {
		route, code string
		want        float64
	}{{"not-me", "OK", 1}, {"not-me", "ER352", 1}, {"page", metrics.Other, 1}} {
		if got := f.value(t, responses, map[string]string{"route": tc.route, "code": tc.code}); got != tc.want {
			t.Errorf("responses{route=%s,code=%s} = %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	body := scrape(t, f)
	if !strings.Contains(body, "safereset_account_locks_total 2") {
		t.Errorf("exposition lacks the lock counter:\n%s", body)
	}
	promtool := requireTool(t, "promtool")
	if out := runTool(t, body, promtool, "check", "metrics"); strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics:\n%s", out)
	}
}
