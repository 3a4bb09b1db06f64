package main

import (
	"crypto/sha1"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
)

// exactCorpus is a breach corpus built through the real CLI, filter and
// exact store together.
type exactCorpus struct {
	bloom, exact string
	counts       map[string]uint64 // known breached passwords
	// clean passwords are not in the corpus, but each shares its 5-hex
	// prefix with a corpus hash, so its range is not empty.
	clean []string
}

// upperSHA1 is the password's SHA-1 as HIBP writes it.
func upperSHA1(pw string) string { return fmt.Sprintf("%X", sha1.Sum([]byte(pw))) }

// buildExactCorpus writes known passwords with counts, a same-prefix
// neighbour for each clean password, and synthetic random hashes, and
// builds them with `breach build --exact` at the given FPR.
func buildExactCorpus(t *testing.T, fpr string, known map[string]uint64, clean []string, synthetic int) exactCorpus {
	t.Helper()
	dir := t.TempDir()
	var in strings.Builder
	for pw, n := range known {
		fmt.Fprintf(&in, "%s:%d\n", upperSHA1(pw), n)
	}
	for _, pw := range clean {
		h := []byte(upperSHA1(pw))
		h[39] = "0123456789ABCDEF"[(strings.IndexByte("0123456789ABCDEF", h[39])+1)%16]
		fmt.Fprintf(&in, "%s:7\n", h)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range synthetic {
		fmt.Fprintf(&in, "%016X%016X%08X:%d\n", r.Uint64(), r.Uint64(), r.Uint32(), r.IntN(100)+1)
	}
	src := filepath.Join(dir, "pwned.txt")
	if err := os.WriteFile(src, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c := exactCorpus{bloom: filepath.Join(dir, "f.bloom"), exact: filepath.Join(dir, "f.exact"), counts: known, clean: clean}
	out, errs, code := cli(t, nil, "", "breach", "build", "--out", c.bloom, "--exact", c.exact, "--fpr", fpr, src)
	if code != 0 {
		t.Fatalf("breach build --exact: %d %s", code, errs)
	}
	if !strings.Contains(out, "bytes per hash") {
		t.Fatalf("build output does not report the exact store:\n%s", out)
	}
	return c
}

func get(t *testing.T, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var knownBreached = map[string]uint64{"password": 52256179, "123456": 209972844, "Tr0ub4dor&3": 3, "correct horse battery staple": 412}

func TestRange_API(t *testing.T) {
	c := buildExactCorpus(t, "0.001", knownBreached, []string{"Quokka-Harbour-88!zt"}, 20000)
	rangeAddr := freePort(t)
	p := startBinary(t, "", "--breach-filter", c.bloom, "--breach-exact", c.exact, "--range-addr", rangeAddr, "--rate-range", "0")
	base := "http://" + rangeAddr

	h := upperSHA1("password")
	t.Run("Range", func(t *testing.T) {
		for _, prefix := range []string{h[:5], strings.ToLower(h[:5])} {
			resp, body := get(t, base+"/range/"+prefix, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" {
				t.Fatalf("GET /range/%s: %d %q", prefix, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			lines := strings.Split(body, "\r\n")
			if strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n") || strings.HasSuffix(body, "\r\n") {
				t.Fatalf("body is not CRLF-separated lines without a final line ending: %q", body)
			}
			if !slices.IsSorted(lines) {
				t.Fatalf("lines not sorted: %q", lines)
			}
			want := fmt.Sprintf("%s:%d", h[5:], knownBreached["password"])
			if !slices.Contains(lines, want) {
				t.Fatalf("range %s lacks %s: %q", prefix, want, lines)
			}
			for _, l := range lines {
				if len(l) < 37 || l[35] != ':' || strings.ToUpper(l[:35]) != l[:35] || strings.HasSuffix(l, ":0") {
					t.Fatalf("bad line %q", l)
				}
			}
			if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") == "" {
				t.Fatalf("no ETag or Cache-Control: %v", resp.Header)
			}
		}
	})
	t.Run("Padding", func(t *testing.T) {
		_, plain := get(t, base+"/range/"+h[:5], nil)
		real := map[string]bool{}
		for _, l := range strings.Split(plain, "\r\n") {
			real[l[:35]] = true
		}
		for range 5 {
			resp, body := get(t, base+"/range/"+h[:5], map[string]string{"Add-Padding": "true"})
			lines := strings.Split(body, "\r\n")
			if resp.StatusCode != 200 || len(lines) < 800 || len(lines) > 1000 || !slices.IsSorted(lines) {
				t.Fatalf("padded: %d, %d lines, sorted %v", resp.StatusCode, len(lines), slices.IsSorted(lines))
			}
			var kept []string
			for _, l := range lines {
				if strings.HasSuffix(l, ":0") {
					if real[l[:35]] {
						t.Fatalf("padding %s collides with a real suffix", l)
					}
					continue
				}
				kept = append(kept, l)
			}
			if strings.Join(kept, "\r\n") != plain {
				t.Fatal("padded answer without its :0 lines differs from the plain answer")
			}
		}
	})
	t.Run("BadRequests", func(t *testing.T) {
		for _, path := range []string{"/range/1234", "/range/123456", "/range/GGGGG", "/range/12%2034", "/range/+1234", "/range/" + h[:5] + "?mode=ntlm", "/range/" + h[:5] + "?mode=md5"} {
			resp, body := get(t, base+path, nil)
			if resp.StatusCode != 400 || strings.ContainsAny(body, "\r\n") || body == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
			}
		}
		if resp, _ := get(t, base+"/range/"+h[:5]+"?mode=sha1", nil); resp.StatusCode != 200 {
			t.Errorf("mode=sha1: %d", resp.StatusCode)
		}
		if resp, body := get(t, base+"/nope", nil); resp.StatusCode != 404 || strings.Contains(body, "{") {
			t.Errorf("unknown path: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("ETag", func(t *testing.T) {
		resp, _ := get(t, base+"/range/"+h[:5], nil)
		tag := resp.Header.Get("ETag")
		if r2, body := get(t, base+"/range/"+h[:5], map[string]string{"If-None-Match": tag}); r2.StatusCode != 304 || body != "" {
			t.Fatalf("If-None-Match %s: %d %q", tag, r2.StatusCode, body)
		}
		if r2, _ := get(t, base+"/range/"+strings.ToLower(h[:5]), map[string]string{"If-None-Match": tag}); r2.StatusCode != 304 {
			t.Fatalf("lower-case prefix revalidation: %d", r2.StatusCode)
		}
		other, _ := get(t, base+"/range/00000", nil)
		if other.Header.Get("ETag") == tag {
			t.Fatal("two prefixes share an ETag")
		}
		if r2, _ := get(t, base+"/range/00000", map[string]string{"If-None-Match": tag}); r2.StatusCode != 200 {
			t.Fatalf("another prefix's tag revalidated: %d", r2.StatusCode)
		}
		padded, _ := get(t, base+"/range/"+h[:5], map[string]string{"Add-Padding": "true"})
		if pt := padded.Header.Get("ETag"); pt == tag || !strings.HasPrefix(pt, "W/") {
			t.Fatalf("padded ETag %q (plain %q)", pt, tag)
		}
	})
	t.Run("ReadyAndMetrics", func(t *testing.T) {
		if resp, body := get(t, base+"/readyz", nil); resp.StatusCode != 200 || body != "ready" {
			t.Fatalf("/readyz: %d %q", resp.StatusCode, body)
		}
		line := metricLine(t, p.Admin, `safereset_range_requests_total{padded="false",result="ok"}`)
		if n := metricOf(t, line); n < 3 {
			t.Fatalf("range ok count %v (%q)", n, line)
		}
		if n := metricOf(t, metricLine(t, p.Admin, `safereset_range_requests_total{padded="false",result="bad_request"}`)); n < 7 {
			t.Fatalf("bad_request count %v", n)
		}
		if n := metricOf(t, metricLine(t, p.Admin, `safereset_range_requests_total{padded="false",result="not_modified"}`)); n < 2 {
			t.Fatalf("not_modified count %v", n)
		}
	})
}

func metricOf(t *testing.T, line string) float64 {
	t.Helper()
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		t.Fatalf("no metric line %q", line)
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		t.Fatalf("metric line %q: %v", line, err)
	}
	return v
}

func TestRange_RateLimit(t *testing.T) {
	c := buildExactCorpus(t, "0.001", knownBreached, nil, 100)
	rangeAddr := freePort(t)
	p := startBinary(t, "", "--breach-filter", c.bloom, "--breach-exact", c.exact, "--range-addr", rangeAddr, "--rate-range", "3-M")
	url := "http://" + rangeAddr + "/range/" + upperSHA1("password")[:5]
	for i := range 3 {
		if resp, _ := get(t, url, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := get(t, url, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || strings.ContainsAny(body, "\r\n") {
		t.Fatalf("4th request: %d %q Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if n := metricOf(t, metricLine(t, p.Admin, `safereset_range_requests_total{padded="false",result="limited"}`)); n != 1 {
		t.Fatalf("limited count %v", n)
	}
}

// TestBreachExact_TwoStage: with a filter built at a high false-positive
// rate, passwords the filter alone refuses are accepted once the exact
// store confirms they are not in the corpus; members stay refused, and
// --breach-min-count refuses only those seen often enough.
func TestBreachExact_TwoStage(t *testing.T) {
	c := buildExactCorpus(t, "0.2", knownBreached, nil, 300)
	f, err := breach.Open(c.bloom)
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for i := 0; len(fps) < 5; i++ {
		pw := fmt.Sprintf("Wombat-Lighthouse-%d-Qz!", i)
		if f.ContainsSHA1(sha1.Sum([]byte(pw))) {
			fps = append(fps, pw)
		}
	}
	f.Close()

	t.Run("FilterOnly", func(t *testing.T) {
		p := startBinary(t, "", "--breach-filter", c.bloom, "--rate-reset-email", "0", "--rate-ip", "0")
		key := p.apiKey("fp")
		if !sameCodes(patchCodes(p.testServer, key, fps[0]), safereset.ER349, safereset.ER352) {
			t.Fatal("without the exact store the filter's false positive should be refused")
		}
		if line := metricLine(t, p.Admin, "safereset_breach_bloom_hits_total"); line != "" {
			t.Fatalf("two-stage metrics without an exact store: %q", line)
		}
	})
	t.Run("Exact", func(t *testing.T) {
		p := startBinary(t, "", "--breach-filter", c.bloom, "--breach-exact", c.exact, "--breach-min-count", "100", "--rate-reset-email", "0", "--rate-ip", "0")
		key := p.apiKey("fp")
		for _, pw := range fps {
			if got := patchCodes(p.testServer, key, pw); !sameCodes(got, safereset.ER352) {
				t.Fatalf("false positive %q refused with the exact store: %v", pw, got)
			}
		}
		if !sameCodes(patchCodes(p.testServer, key, "correct horse battery staple"), safereset.ER349, safereset.ER352) {
			t.Fatal("member seen 412 times not refused at --breach-min-count 100")
		}
		// Tr0ub4dor&3 is seen 3 times: below the minimum, so it is judged
		// on strength alone.
		if got := patchCodes(p.testServer, key, "Tr0ub4dor&3"); slices.Contains(got, string(safereset.ER349)) {
			t.Fatalf("member below --breach-min-count refused as breached: %v", got)
		}
		if n := metricOf(t, metricLine(t, p.Admin, "safereset_breach_false_positives_avoided_total")); n < float64(len(fps)) {
			t.Fatalf("false positives avoided = %v, want >= %d", n, len(fps))
		}
		if n := metricOf(t, metricLine(t, p.Admin, "safereset_breach_exact_confirmed_total")); n < 1 {
			t.Fatalf("confirmed = %v", n)
		}
		if n := metricOf(t, metricLine(t, p.Admin, "safereset_breach_below_min_count_total")); n < 1 {
			t.Fatalf("below min count = %v", n)
		}
		if n := metricOf(t, metricLine(t, p.Admin, "safereset_breach_bloom_hits_total")); n < float64(len(fps)+2) {
			t.Fatalf("bloom hits = %v", n)
		}
	})
}

func TestServe_ExactFlagsRefused(t *testing.T) {
	c := buildExactCorpus(t, "0.001", knownBreached, nil, 10)
	other := buildExactCorpus(t, "0.001", knownBreached, nil, 10)
	trunc := filepath.Join(t.TempDir(), "t.exact")
	b, _ := os.ReadFile(c.exact)
	os.WriteFile(trunc, b[:len(b)-5], 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"RangeWithoutExact", []string{"--range-addr", "127.0.0.1:0"}, "--range-addr needs --breach-exact"},
		{"MinCountWithoutExact", []string{"--breach-min-count", "5"}, "--breach-min-count needs --breach-exact"},
		{"ExactWithoutFilter", []string{"--breach-exact", c.exact}, "--breach-exact needs --breach-filter"},
		{"TruncatedExact", []string{"--breach-filter", c.bloom, "--breach-exact", trunc}, "truncated"},
		{"FilterAsExact", []string{"--breach-filter", c.bloom, "--breach-exact", c.bloom}, "not a safereset exact breach store"},
		{"NotPaired", []string{"--breach-filter", c.bloom, "--breach-exact", other.exact}, "not built with this filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			_, errs, code := cli(t, nil, "", args...)
			if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Fatalf("exit %d, stderr %q; want one line containing %q", code, errs, tc.want)
			}
		})
	}
}
