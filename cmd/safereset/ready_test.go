package main

import (
	"net/http"
	"testing"
	"time"
)

// waitReady polls the ops listener's /readyz until it answers 200 and
// fails tb, with log() (the server's log so far, or nothing), when it has
// not after 30 seconds: the start-up wait of every server a test or
// benchmark runs.
func waitReady(tb testing.TB, admin string, log func() string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server not ready after 30s; log:\n%s", log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
