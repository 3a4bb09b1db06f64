package main

import (
	"testing"
	"time"
)

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
