package main

// Security tests: each one is an attack against the real server (in-process
// `serve`, or the built binary where the process itself is measured).
// They are split by theme into security_*_e2e_test.go; this file: helpers
// every security test uses.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

const resetPath = "/api/v1/user/reset-password"

// secRaw sends raw bytes on a fresh connection to addr ("http://host:port")
// and returns the status line's code and the whole answer. The Go client
// refuses to send most of what an attacker would, so these tests speak
// HTTP themselves.
func secRaw(t *testing.T, base, raw string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sb strings.Builder
	resp.Header.Write(&sb)
	return resp.StatusCode, sb.String() + "\r\n" + string(b)
}

// secJSON marshals fields into a body.
func secJSON(fields map[string]any) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

// secPatchBody is a PATCH body.
func secPatchBody(email, pw, token string) string {
	return secJSON(map[string]any{"emailAddress": email, "password": pw, "passwordVerify": pw, "token": token})
}

// timedDo sends one request with client and returns its wall time and status.
func timedDo(t *testing.T, client *http.Client, method, u string, headers map[string]string, body string) (time.Duration, int) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}
