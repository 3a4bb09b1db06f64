package metrics_test

import "testing"

// TestReadyGauge: safereset_ready follows what /readyz would answer at
// each scrape, so SaferesetNotReady sees a failing part.
func TestReadyGauge(t *testing.T) {
	f := newFixture(t)
	if got := f.value(t, "safereset_ready", nil); got != 1 {
		t.Fatalf("ready: %v, want 1", got)
	}
	f.ready.Store(false)
	if got := f.value(t, "safereset_ready", nil); got != 0 {
		t.Fatalf("not ready: %v, want 0", got)
	}
}
