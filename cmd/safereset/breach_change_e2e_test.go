package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/safereset/safereset"
)

// readyzAnswer is what the ops listener's /readyz answers.
type readyzAnswer struct {
	Reasons      []string
	BreachFilter safereset.FilterInfo
}

// readyz returns the status and reasons of the ops listener's /readyz.
func readyz(t *testing.T, admin string) (int, []string) {
	t.Helper()
	st, body := readyzFull(t, admin)
	return st, body.Reasons
}

// readyzGuard is the breachFilter.guard that /readyz reports.
func readyzGuard(t *testing.T, admin string) string {
	t.Helper()
	_, body := readyzFull(t, admin)
	return body.BreachFilter.Guard
}

func readyzFull(t *testing.T, admin string) (int, readyzAnswer) {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readyzAnswer
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestBreach_FileChangedUnderTheServer: the real binary maps its filter; a
// truncation, an overwrite in place or a cp over it (the unsafe update an
// operator may still type) never kills the process. Checks fail closed with
// ER999 (logged, counted), /readyz is 503 with the reason, and a valid file
// renamed into place plus SIGHUP (or the admin reload) restores service.
func TestBreach_FileChangedUnderTheServer(t *testing.T) {
	dir := t.TempDir()
	const pwA, pwB = "Zebra-Cactus-91!xq", "Lantern-Oyster-73?vk"
	first, second := filepath.Join(dir, "first.bloom"), filepath.Join(dir, "second.bloom")
	buildFilter(t, first, pwA)
	buildFilter(t, second, pwA, pwB)

	cases := []struct {
		name    string
		change  func(t *testing.T, live string)
		restore string // "hup" or "admin"
	}{
		{"Truncated", func(t *testing.T, live string) {
			if err := os.Truncate(live, 0); err != nil {
				t.Fatal(err)
			}
		}, "hup"},
		{"OverwrittenInPlace", func(t *testing.T, live string) {
			fh, err := os.OpenFile(live, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			st, _ := fh.Stat()
			if _, err := fh.WriteAt(make([]byte, st.Size()), 0); err != nil {
				t.Fatal(err)
			}
		}, "admin"},
		{"CopiedOver", func(t *testing.T, live string) {
			copyFile(t, second, live) // cp: O_TRUNC, then the new bytes
		}, "hup"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			live := filepath.Join(t.TempDir(), "live.bloom")
			copyFile(t, first, live)
			p := startBinary(t, "", "--breach-filter", live, "--rate-reset-email", "0", "--rate-ip", "0")
			key := p.apiKey("breach")
			if !sameCodes(patchCodes(p.testServer, key, pwA), safereset.ER349, safereset.ER352) {
				t.Fatal("password in the filter not refused before the change")
			}
			// The test owns the file, so the kernel grants the server a read
			// lease: the change below is announced before it happens.
			if g := readyzGuard(t, p.Admin); g != "lease" {
				t.Fatalf("readyz breachFilter.guard = %q, want lease", g)
			}

			tc.change(t, live)

			for _, pw := range []string{pwA, pwB, "Another-Password-55!"} {
				if got := patchCodes(p.testServer, key, pw); !sameCodes(got, safereset.ER999) {
					t.Fatalf("PATCH after the change: %v, want ER999 (fail closed)", got)
				}
			}
			if st, reasons := readyz(t, p.Admin); st != 503 || !strings.Contains(strings.Join(reasons, "|"), "changed in place") {
				t.Fatalf("readyz after the change: %d %q", st, reasons)
			}
			if n := responses(t, p.Admin, "reset", "ER999"); n != 3 {
				t.Fatalf("ER999 counted %v times, want 3", n)
			}
			if !strings.Contains(p.Log.String(), "filter file changed in place") {
				t.Fatalf("the cause is not logged:\n%s", p.Log.String())
			}
			if p.cmd.ProcessState != nil {
				t.Fatalf("process exited: %v", p.cmd.ProcessState)
			}

			// The crash-safe update: a new name, then rename over.
			tmp := live + ".tmp"
			copyFile(t, second, tmp)
			if err := os.Rename(tmp, live); err != nil {
				t.Fatal(err)
			}
			switch tc.restore {
			case "hup":
				p.cmd.Process.Signal(syscall.SIGHUP)
			case "admin":
				if st := p.admin("POST", "/admin/v1/breach/reload", map[string]string{"path": live}, nil); st != 200 {
					t.Fatalf("admin reload: %d", st)
				}
			}
			waitFor(t, func() bool { st, _ := readyz(t, p.Admin); return st == 200 }, "readyz 200 after reload")
			if got := patchCodes(p.testServer, key, pwB); !sameCodes(got, safereset.ER349, safereset.ER352) {
				t.Fatalf("after the reload: %v", got)
			}
			if code := p.term(t); code != 0 {
				t.Fatalf("exit %d; log:\n%s", code, p.Log.String())
			}
		})
	}
}
