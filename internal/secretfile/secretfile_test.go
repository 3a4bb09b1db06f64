package secretfile_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/secretfile"
)

func random32() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

func TestLoadOrCreate(t *testing.T) {
	t.Run("CreatesOwnerOnly", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "k.key")
		b, err := secretfile.LoadOrCreate(path, random32)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
		}
		di, _ := os.Stat(filepath.Dir(path))
		if di.Mode().Perm() != 0o700 {
			t.Fatalf("dir mode %04o, want 0700", di.Mode().Perm())
		}
		again, err := secretfile.LoadOrCreate(path, func() ([]byte, error) { return []byte("other"), nil })
		if err != nil || !bytes.Equal(b, again) {
			t.Fatalf("second load = %x, %v; want the first secret", again, err)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*"))
		if len(left) != 0 {
			t.Fatalf("temporary files left behind: %v", left)
		}
	})
	t.Run("RefusesGroupReadable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(path, []byte("0123456789abcdef0123456789abcdef"), 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := secretfile.LoadOrCreate(path, random32)
		if !errors.Is(err, secretfile.ErrTooOpen) {
			t.Fatalf("err = %v, want ErrTooOpen", err)
		}
	})
	t.Run("RefusesDirectory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k.key")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := secretfile.Read(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v, want not a regular file", err)
		}
	})
	t.Run("RefusesHuge", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(path, make([]byte, secretfile.MaxSize+1), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := secretfile.Read(path); err == nil {
			t.Fatal("a file larger than MaxSize was accepted")
		}
	})
	t.Run("CreateFails", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "k.key")
		_, err := secretfile.LoadOrCreate(path, func() ([]byte, error) { return nil, errors.New("no entropy") })
		if err == nil {
			t.Fatal("want the create error")
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed create left %s behind", path)
		}
	})
}

func TestWrite_Replaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	if _, err := secretfile.LoadOrCreate(path, random32); err != nil {
		t.Fatal(err)
	}
	if err := secretfile.Write(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, err := secretfile.Read(path)
	if err != nil || string(b) != "new" {
		t.Fatalf("after Write: %q, %v", b, err)
	}
}

// TestLoadOrCreate_TwoProcesses starts several copies of this test binary
// that all create the same missing key at once, released together by a
// file they wait for: every process must print the same key.
func TestLoadOrCreate_TwoProcesses(t *testing.T) {
	if path := os.Getenv("SECRETFILE_CHILD_PATH"); path != "" {
		gate := os.Getenv("SECRETFILE_CHILD_GATE")
		for {
			if _, err := os.Stat(gate); err == nil {
				break
			}
			time.Sleep(100 * time.Microsecond) // poll the gate, gently
		}
		b, err := secretfile.LoadOrCreate(path, random32)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("key:%x\n", b)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "shared.key")
	gate := filepath.Join(dir, "go")
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadOrCreate_TwoProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SECRETFILE_CHILD_PATH="+path, "SECRETFILE_CHILD_GATE="+gate)
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if strings.HasPrefix(line, "key:") {
				keys = append(keys, line)
			}
		}
	}
	if len(keys) != n {
		t.Fatalf("got %d keys from %d children", len(keys), n)
	}
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("children disagree on the key: %v", keys)
		}
	}
	onDisk, err := secretfile.Read(path)
	if err != nil || fmt.Sprintf("key:%x", onDisk) != keys[0] {
		t.Fatalf("file holds %x (%v), children printed %s", onDisk, err, keys[0])
	}
}
