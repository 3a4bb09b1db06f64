package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/postgres"
)

// benchServer is `safereset serve` in-process for a benchmark, with the
// limits and the minimum request duration off so the numbers are the
// route's own cost.
type benchServer struct {
	base, admin, token, key string
}

func startBenchServer(b *testing.B, extra ...string) *benchServer {
	b.Helper()
	dir := b.TempDir()
	pub, ops := freePortTB(b), freePortTB(b)
	args := append([]string{"safereset", "serve", "--addr", pub, "--admin-addr", ops, "--data-dir", dir,
		"--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0", "--request-min-duration", "0"}, fastArgs...)
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	}()
	b.Cleanup(func() { cancel(); <-done })
	s := &benchServer{base: "http://" + pub, admin: "http://" + ops}
	waitReady(b, s.admin, func() string { return "" }) // its log is discarded
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	var out struct{ Key string }
	s.do(b, "POST", s.admin+"/admin/v1/users", map[string]string{"Authorization": "Bearer " + s.token}, map[string]string{"emailAddress": alice, "password": oldPW}, 201, nil)
	s.do(b, "POST", s.admin+"/admin/v1/apikeys", map[string]string{"Authorization": "Bearer " + s.token}, map[string]string{"name": "bench"}, 201, &out)
	s.key = out.Key
	return s
}

func (s *benchServer) do(b *testing.B, method, url string, hdr map[string]string, body any, want int, out any) {
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoutes is the latency of each route, one request at a time over
// loopback, on bbolt and on PostgreSQL in the same run (PostgreSQL is the
// test server internal/pgtest starts, without fsync). Compare the store
// sub-benchmarks of one run with each other, not with another run's.
//
//	go test -run '^$' -bench BenchmarkRoutes -benchtime 300x ./cmd/safereset
func BenchmarkRoutes(b *testing.B) {
	for _, st := range []string{"bbolt", "postgres"} {
		b.Run(st, func(b *testing.B) {
			var extra []string
			if st == "postgres" {
				url := pgtest.New(b)
				if _, err := postgres.Migrate(context.Background(), url); err != nil {
					b.Fatal(err)
				}
				extra = []string{"--database-url", url}
			}
			s := startBenchServer(b, extra...)
			api := map[string]string{"X-Api-Key": s.key}
			adm := map[string]string{"Authorization": "Bearer " + s.token}
			reset := s.base + "/api/v1/user/reset-password"
			routes := []struct {
				name, method, url string
				hdr               map[string]string
				body              any
				want              int
			}{
				{"POST_request_known", "POST", reset, api, map[string]string{"emailAddress": alice}, 202},
				{"POST_request_unknown", "POST", reset, api, map[string]string{"emailAddress": "nobody@example.com"}, 202},
				{"PATCH_reset_bad_token", "PATCH", reset, api, map[string]string{"emailAddress": alice, "password": strongPW, "passwordVerify": strongPW, "token": strings.Repeat("0", 32)}, 400},
				{"GET_readyz", "GET", s.admin + "/readyz", nil, nil, 200},
				{"GET_admin_apikeys", "GET", s.admin + "/admin/v1/apikeys", adm, nil, 200},
				{"GET_admin_audit", "GET", s.admin + "/admin/v1/audit", adm, nil, 200},
			}
			for _, r := range routes {
				b.Run(r.name, func(b *testing.B) {
					for b.Loop() {
						s.do(b, r.method, r.url, r.hdr, r.body, r.want, nil)
					}
				})
			}
		})
	}
}
