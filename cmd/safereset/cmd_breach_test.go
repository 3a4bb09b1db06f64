package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runBreachT(t *testing.T, stdin string, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runBreach(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func breachInput(t *testing.T, passwords ...string) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range passwords {
		fmt.Fprintf(&b, "%X:7\r\n", sha1.Sum([]byte(p)))
	}
	b.WriteString("this line is not a hash\r\n")
	path := filepath.Join(t.TempDir(), "pwned.txt")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBreachCLI_BuildCheckInfo(t *testing.T) {
	filter := filepath.Join(t.TempDir(), "f.bloom")
	in := breachInput(t, "password", "letmein", "Tr0ub4dor&3")
	out, errOut, err := runBreachT(t, "", nil, "build", in, "--out", filter, "--fpr", "0.0001")
	if err != nil {
		t.Fatalf("build: %v (%s)", err, errOut)
	}
	for _, want := range []string{"wrote " + filter, "elements: 3 (added 3, skipped 0 below min count, 1 malformed lines)", "target 0.0001"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "pwned.txt:4: ") {
		t.Errorf("malformed line 4 not reported: %q", errOut)
	}

	t.Run("CheckSomeBreached", func(t *testing.T) {
		out, _, err := runBreachT(t, "password\nkDWPe4qf$&mgM26&8hX\r\nTr0ub4dor&3", nil, "check", "--filter", filter)
		if !errors.Is(err, errBreachedFound) {
			t.Fatalf("err = %v, want errBreachedFound", err)
		}
		if out != "breached\nok\nbreached\n" {
			t.Fatalf("stdout %q", out)
		}
	})
	t.Run("CheckNoneBreached", func(t *testing.T) {
		out, _, err := runBreachT(t, "kDWPe4qf$&mgM26&8hX\n", map[string]string{"SAFERESET_BREACH_FILTER": filter}, "check")
		if err != nil || out != "ok\n" {
			t.Fatalf("out %q err %v", out, err)
		}
	})
	t.Run("CheckMinStrength", func(t *testing.T) {
		out, _, err := runBreachT(t, "aaaaaaaaaaaa\n", nil, "check", "--filter", filter, "--min-strength", "3")
		if !errors.Is(err, errBreachedFound) || out != "weak\n" {
			t.Fatalf("out %q err %v", out, err)
		}
	})
	t.Run("CheckDefaultList", func(t *testing.T) {
		out, _, err := runBreachT(t, "qwertyuiop\npassword1\niloveyou\n", nil, "check")
		if !errors.Is(err, errBreachedFound) || out != "breached\nbreached\nbreached\n" {
			t.Fatalf("out %q err %v", out, err)
		}
	})
	t.Run("InfoVerify", func(t *testing.T) {
		out, _, err := runBreachT(t, "", nil, "info", filter, "--verify")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"elements (n): 3", "target false-positive rate: 0.0001", "source: pwned.txt", "verified: checksum ok"} {
			if !strings.Contains(out, want) {
				t.Errorf("info output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("InfoVerifyCorrupt", func(t *testing.T) {
		b, err := os.ReadFile(filter)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 0x80
		bad := filepath.Join(t.TempDir(), "bad.bloom")
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = runBreachT(t, "", nil, "info", "--verify", bad)
		if err == nil || !strings.Contains(err.Error(), "corrupt breach filter") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("BaseUpdate", func(t *testing.T) {
		updated := filepath.Join(t.TempDir(), "g.bloom")
		out, _, err := runBreachT(t, "", nil, "build", "--base", filter, "--out", updated, breachInput(t, "hunter22"))
		if err != nil || !strings.Contains(out, "elements: 4 (added 1") {
			t.Fatalf("out %q err %v", out, err)
		}
		out, _, err = runBreachT(t, "hunter22\nletmein\n", nil, "check", "--filter", updated)
		if !errors.Is(err, errBreachedFound) || out != "breached\nbreached\n" {
			t.Fatalf("out %q err %v", out, err)
		}
	})
}

// TestBreachCLI_FormatVersions: a new filter is version 2 (blocked) unless
// --format-version 1 asks for the bloom/v3 layout; info names the layout
// and verifies both; a --base update keeps the base's version.
func TestBreachCLI_FormatVersions(t *testing.T) {
	in := breachInput(t, "password", "letmein")
	for _, tc := range []struct {
		flags  []string
		want   string
		layout string
	}{
		{nil, "format version: 2", "layout: blocked"},
		{[]string{"--format-version", "2"}, "format version: 2", "layout: blocked"},
		{[]string{"--format-version", "1"}, "format version: 1", "layout: bloom/v3"},
	} {
		t.Run(strings.Join(append([]string{"default"}, tc.flags...), " "), func(t *testing.T) {
			filter := filepath.Join(t.TempDir(), "f.bloom")
			out, errOut, err := runBreachT(t, "", nil, append([]string{"build", in, "--out", filter}, tc.flags...)...)
			if err != nil || !strings.Contains(out, tc.want+", "+tc.layout) {
				t.Fatalf("build: %v %s\n%s", err, errOut, out)
			}
			out, _, err = runBreachT(t, "", nil, "info", "--verify", filter)
			if err != nil || !strings.Contains(out, tc.want+"\n") || !strings.Contains(out, tc.layout) || !strings.Contains(out, "verified: checksum ok") {
				t.Fatalf("info: %v\n%s", err, out)
			}
			updated := filepath.Join(t.TempDir(), "g.bloom")
			if _, errOut, err := runBreachT(t, "", nil, "build", "--base", filter, "--out", updated, breachInput(t, "hunter22")); err != nil {
				t.Fatalf("update: %v %s", err, errOut)
			}
			out, _, err = runBreachT(t, "", nil, "info", "--verify", updated)
			if err != nil || !strings.Contains(out, tc.want+"\n") || !strings.Contains(out, "elements (n): 3") {
				t.Fatalf("info of the update: %v\n%s", err, out)
			}
			out, _, err = runBreachT(t, "hunter22\nletmein\nkDWPe4qf$&mgM26&8hX\n", nil, "check", "--filter", updated)
			if !errors.Is(err, errBreachedFound) || out != "breached\nbreached\nok\n" {
				t.Fatalf("check the update: out %q err %v", out, err)
			}
		})
	}
	_, _, err := runBreachT(t, "", nil, "build", in, "--out", filepath.Join(t.TempDir(), "x.bloom"), "--format-version", "3")
	if err == nil || !strings.Contains(err.Error(), "--format-version 3: want 1 or 2") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("--format-version 3: err = %v", err)
	}
}

func TestBreachCLI_Errors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NoSubcommand", nil, "want a subcommand: build, check, info"},
		{"UnknownSubcommand", []string{"frobnicate"}, "unknown subcommand"},
		{"BuildNoOut", []string{"build", "x.txt"}, "--out FILE is required"},
		{"BuildNoInputs", []string{"build", "--out", "x.bloom"}, "no inputs"},
		{"BuildBadFlag", []string{"build", "--fpr", "lots"}, "invalid value"},
		{"CheckMissingFilter", []string{"check", "--filter", "/nonexistent/f.bloom"}, "no such file"},
		{"CheckArgument", []string{"check", "password"}, "passwords come on stdin"},
		{"InfoNoFile", []string{"info"}, "want exactly one FILE"},
		{"InfoForeign", []string{"info", "cmd_breach.go"}, "not a safereset breach filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runBreachT(t, "", nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line mentioning %q", err, tt.want)
			}
			if errOut != "" {
				t.Fatalf("stderr %q: the error is the only output", errOut)
			}
		})
	}
	t.Run("HelpListsFlags", func(t *testing.T) {
		out, _, err := runBreachT(t, "", nil, "build", "-h")
		if err != nil || !strings.Contains(out, "--min-count") || !strings.HasPrefix(out, "usage: safereset breach build INPUT... [flags]\n") {
			t.Fatalf("err %v, stdout %q", err, out)
		}
	})
}
