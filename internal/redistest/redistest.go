// Package redistest starts a throwaway redis-server for tests, on a free
// loopback port, with persistence off. Without redis-server a test is
// skipped with a loud message, or fails when CI=true.
package redistest

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/safereset/safereset/internal/freeport"
)

// Server is one running redis-server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
}

// URL is the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start runs redis-server on port (0: a free one) and stops it when t
// ends.
func Start(t testing.TB, port int) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-server not found: %v", err)
		}
		t.Skipf("\n*** SKIPPING: this test needs redis-server (Debian package redis-server); under CI=true it fails ***")
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("redistest: start: %v", err)
	}
	t.Cleanup(s.Stop)
	sc := bufio.NewScanner(out)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "Ready to accept connections") {
			go io.Copy(io.Discard, out)
			return s
		}
	}
	t.Fatalf("redistest: redis-server exited before it was ready:\n%s", strings.Join(log, "\n"))
	return nil
}

// Stop ends the server.
func (s *Server) Stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// FreePort returns a loopback port nobody listens on now.
func FreePort() (int, error) { return freeport.Port() }
