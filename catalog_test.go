package safereset_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"testing"

	"github.com/safereset/safereset"
)

var update = flag.Bool("update", false, "rewrite testdata/catalog.golden.json")

// TestCatalog_MatchesSeed pins every message and solution, byte for byte,
// to the error list of the original API text (testdata/seed-errors.json is
// copied verbatim from shared/seed).
func TestCatalog_MatchesSeed(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed-errors.json")
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		Errors map[string]safereset.Entry `json:"errors"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	if len(seed.Errors) != 19 {
		t.Fatalf("seed has %d codes, want 19", len(seed.Errors))
	}
	for key, want := range seed.Errors {
		got, ok := safereset.Lookup(safereset.Code(key))
		if !ok {
			t.Errorf("%s: missing from the catalog", key)
			continue
		}
		if string(want.Code) != key || got.Code != want.Code || got.Message != want.Message || got.Solution != want.Solution {
			t.Errorf("%s: catalog %q / %q, seed %q / %q", key, got.Message, got.Solution, want.Message, want.Solution)
		}
	}
	// The two extensions of SPEC §2.1, and nothing else.
	ext := map[safereset.Code][2]string{
		safereset.ER429: {"Too many requests.", "Wait until the time given in the Retry-After header, then try again."},
		safereset.ER413: {"Request body is too large.", "Send a request body of at most 16 KiB."},
	}
	for code, want := range ext {
		got, _ := safereset.Lookup(code)
		if got.Message != want[0] || got.Solution != want[1] {
			t.Errorf("%s: %q / %q", code, got.Message, got.Solution)
		}
	}
	if n := len(safereset.Catalog()); n != len(seed.Errors)+len(ext) {
		t.Errorf("catalog has %d codes, want %d", n, len(seed.Errors)+len(ext))
	}
}

// TestCatalog_Golden pins codes, statuses and texts together (SPEC §2.1).
func TestCatalog_Golden(t *testing.T) {
	type row struct {
		Code     safereset.Code `json:"code"`
		Status   int            `json:"status"`
		Message  string         `json:"message"`
		Solution string         `json:"solution"`
	}
	var rows []row
	for _, e := range safereset.Catalog() {
		rows = append(rows, row{e.Code, e.Status, e.Message, e.Solution})
	}
	got, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/catalog.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if string(got) != string(want) {
		t.Errorf("catalog drifted from %s; diff it, and run with -update only if the change is intended", golden)
	}
}

func TestCatalog_Statuses(t *testing.T) {
	want := map[int][]safereset.Code{
		http.StatusBadRequest:            {"ER001", "ER003", "ER004", "ER122", "ER123", "ER349", "ER350", "ER351", "ER352", "ER353"},
		http.StatusUnauthorized:          {"ER800", "ER801", "ER802", "ER803", "ER805", "ER806"},
		http.StatusRequestEntityTooLarge: {"ER413"},
		http.StatusTooManyRequests:       {"ER429"},
		http.StatusBadGateway:            {"ER355"},
		http.StatusServiceUnavailable:    {"ER354"},
		http.StatusInternalServerError:   {"ER999"},
	}
	for status, codes := range want {
		for _, c := range codes {
			if e, _ := safereset.Lookup(c); e.Status != status {
				t.Errorf("%s: status %d, want %d", c, e.Status, status)
			}
		}
	}
}

func TestCodes_StatusOfMix(t *testing.T) {
	var cs safereset.Codes
	cs.Add(safereset.ER802)
	cs.Add(safereset.ER806)
	if cs.Status() != 401 || len(cs.Sorted()) != 2 {
		t.Fatalf("ER802+ER806: status %d, %v", cs.Status(), cs.Sorted())
	}
	var empty safereset.Codes
	if empty.Status() != 0 || empty.Has(safereset.ER001) {
		t.Fatal("empty set")
	}
}
