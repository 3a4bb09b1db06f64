// Package nodetest runs the node scripts under tools/ that check this
// project against JavaScript libraries nobody here wrote.
package nodetest

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
)

// Run runs node script (relative to dir, which is also its working
// directory) with args and stdin as its input, and returns what it wrote
// to stdout and stderr. A script that fails, fails t with its stderr.
func Run(t testing.TB, node, dir, script string, stdin []byte, args ...string) (stdout, stderr []byte) {
	t.Helper()
	cmd := exec.Command(node, append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, errBuf.String())
	}
	return out, errBuf.Bytes()
}
