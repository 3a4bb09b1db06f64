package main

import (
	"os"
	"testing"
	"time"
)

func TestCPUSeconds_OwnProcessMoves(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	before, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter moves by one tick; the loop ends on the
	// effect, not on a guess of how long a tick takes.
	x := 0
	for {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		after, err := cpuSeconds(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
	}
	_ = x
}

func TestRunQuantile(t *testing.T) {
	r := run{}
	for i := 1; i <= 1000; i++ {
		r.lat = append(r.lat, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond, 0.999: 999 * time.Millisecond, 1: time.Second} {
		if got := r.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if (run{}).quantile(0.5) != 0 {
		t.Error("empty run has a quantile")
	}
}
