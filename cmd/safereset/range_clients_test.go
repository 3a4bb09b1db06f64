package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	hibp "github.com/mattevans/pwned-passwords"
	"github.com/safereset/safereset/internal/nodetest"
)

// needTool skips loudly when an external program the test needs is
// missing, and fails under CI, where it must be installed.
func needTool(t *testing.T, what, hint string) {
	t.Helper()
	msg := "!!! SKIPPING: " + what + " is missing (" + hint + "); this test proves third-party clients work against the range API"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// paddingProxy forwards to target, adding Add-Padding: true, for clients
// that cannot send the header themselves.
func paddingProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Add-Padding", "true")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRange_Clients points Pwned Passwords clients nobody here wrote at
// the running binary: each must find the breached passwords with their
// counts and pass the clean ones, with and without padding.
func TestRange_Clients(t *testing.T) {
	clean := []string{"Quokka-Harbour-88!zt", "Marmot-Glacier-12#pk"}
	c := buildExactCorpus(t, "0.001", knownBreached, clean, 20000)
	rangeAddr := freePort(t)
	startBinary(t, "", "--breach-filter", c.bloom, "--breach-exact", c.exact, "--range-addr", rangeAddr, "--rate-range", "0")
	base := "http://" + rangeAddr
	want := func(pw string) uint64 { return c.counts[pw] } // 0 for clean
	passwords := append(append([]string{}, clean...), "password", "123456", "Tr0ub4dor&3", "correct horse battery staple")

	t.Run("GoMattevans", func(t *testing.T) {
		// This client reports compromised or not (no count) and cannot
		// send Add-Padding; a proxy adds it for the padded run.
		for _, padded := range []bool{false, true} {
			target := base
			if padded {
				target = paddingProxy(t, base)
			}
			cl := hibp.NewClient()
			cl.Cache.ExpireAll() // its cache is package-wide
			u, err := url.Parse(target + "/")
			if err != nil {
				t.Fatal(err)
			}
			cl.BackendURL = u
			for _, pw := range passwords {
				got, err := cl.Pwned.Compromised(pw)
				if err != nil {
					t.Fatalf("padded=%v %q: %v", padded, pw, err)
				}
				if got != (want(pw) > 0) {
					t.Errorf("padded=%v %q: compromised %v, want %v", padded, pw, got, want(pw) > 0)
				}
			}
		}
	})

	t.Run("Node", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			needTool(t, "node", "apt-get install -y nodejs")
		}
		dir, err := filepath.Abs("../../tools/hibp-clients")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "hibp")); err != nil {
			needTool(t, "tools/hibp-clients/node_modules", "run npm ci in tools/hibp-clients")
		}
		in, _ := json.Marshal(map[string]any{"passwords": passwords})
		out, stderr := nodetest.Run(t, node, dir, "check.mjs", in, base)
		type answer struct {
			Client   string `json:"client"`
			Padding  bool   `json:"padding"`
			Password string `json:"password"`
			Count    uint64 `json:"count"`
			Lines    int    `json:"lines"`
			Zeros    int    `json:"zeros"`
		}
		seen := map[string]int{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			var a answer
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatalf("bad line %q: %v", sc.Text(), err)
			}
			seen[a.Client]++
			if a.Count != want(a.Password) {
				t.Errorf("%s padding=%v %q: count %d, want %d", a.Client, a.Padding, a.Password, a.Count, want(a.Password))
			}
			if a.Client == "hibp.pwnedPasswordRange" {
				if a.Padding && (a.Lines < 800 || a.Zeros == 0) {
					t.Errorf("padded range for %q: %d lines, %d padding", a.Password, a.Lines, a.Zeros)
				}
				if !a.Padding && (a.Zeros != 0 || a.Lines == 0) {
					t.Errorf("plain range for %q: %d lines, %d padding", a.Password, a.Lines, a.Zeros)
				}
			}
		}
		for _, client := range []string{"hibp.pwnedPassword", "hibp.pwnedPasswordRange", "zxcvbn-ts.haveIBeenPwned", "zxcvbn-ts.matcher-pwned"} {
			if seen[client] != 2*len(passwords) {
				t.Errorf("%s answered %d questions, want %d\nstderr: %s", client, seen[client], 2*len(passwords), strings.TrimSpace(string(stderr)))
			}
		}
	})
}
