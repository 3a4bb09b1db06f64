// Package pgtest starts a throwaway PostgreSQL server for tests: Debian's
// server binaries, initdb into a temporary directory, one server per test
// binary, and a fresh database for each test.
//
// PostgreSQL refuses to run as root, so under root the server runs as the
// "postgres" user. Without the binaries a test is skipped with a loud
// message, or fails when CI=true.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/safereset/safereset/internal/freeport"

	"github.com/jackc/pgx/v5"
)

// Server is one running PostgreSQL.
type Server struct {
	// Addr is host:port of its TCP listener on loopback.
	Addr string
	dir  string
	cmd  *exec.Cmd
	seq  atomic.Int64

	tmplOnce sync.Once
	tmplErr  error
}

var (
	once    sync.Once
	shared  *Server
	initErr error
)

// Main runs the package's tests and then stops the server if one was
// started: call it from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// New returns the URL of a new, empty database on the package's server,
// starting the server on first use, and drops the database when t ends.
func New(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, initErr = Start() })
	if initErr != nil {
		if errors.Is(initErr, errNoBinaries) && os.Getenv("CI") != "true" {
			t.Skipf("\n*** SKIPPING: PostgreSQL tests need a PostgreSQL server: %v ***\n*** install Debian's postgresql package; under CI=true this fails ***", initErr)
		}
		t.Fatalf("pgtest: %v", initErr)
	}
	return shared.NewDatabase(t)
}

// NewFromTemplate is New for a database cloned from a template that setup
// prepares once per test binary (say, by migrating it), so each test pays
// for a file copy instead of running setup again.
func NewFromTemplate(t testing.TB, setup func(url string) error) string {
	t.Helper()
	New(t) // starts the server, or skips
	shared.tmplOnce.Do(func() {
		shared.tmplErr = shared.Exec(context.Background(), "CREATE DATABASE safereset_template TEMPLATE template1")
		if shared.tmplErr == nil {
			shared.tmplErr = setup(shared.URL("safereset_template"))
		}
	})
	if shared.tmplErr != nil {
		t.Fatalf("pgtest: template: %v", shared.tmplErr)
	}
	return shared.newDatabase(t, "safereset_template")
}

var errNoBinaries = errors.New("no PostgreSQL server binaries found")

// BinDir returns the directory of the newest installed PostgreSQL server
// (initdb and postgres), from $PGTEST_BINDIR or /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w under /usr/lib/postgresql/*/bin (or $PGTEST_BINDIR)", errNoBinaries)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start runs initdb into a new temporary directory and starts a server on
// a free loopback port. Stop removes everything.
func Start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	cred, err := runAs(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "log_min_messages=warning")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := waitReady(stderr); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady reads the server's log until it accepts connections, then
// keeps draining it so the server never blocks on a full pipe.
func waitReady(r io.Reader) error {
	sc := bufio.NewScanner(r)
	var log []string
	for sc.Scan() {
		line := sc.Text()
		log = append(log, line)
		if strings.Contains(line, "ready to accept connections") {
			go io.Copy(io.Discard, r)
			return nil
		}
	}
	return fmt.Errorf("postgres exited before accepting connections:\n%s", strings.Join(log, "\n"))
}

// runAs returns the credential to run the server with (the postgres user
// when this process is root) and hands dir to that user.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to start the server: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) { return freeport.Port() }

// URL returns the URL of database name as the postgres superuser.
func (s *Server) URL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: s.Addr, Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Exec runs one SQL statement on the maintenance database.
func (s *Server) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// NewDatabase creates an empty database (a copy of template1) and drops it
// when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.newDatabase(t, "template1")
}

func (s *Server) newDatabase(t testing.TB, template string) string {
	t.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.seq.Add(1))
	ctx := context.Background()
	if err := s.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template+" STRATEGY FILE_COPY"); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	return s.URL(name)
}

// Pid returns the postmaster's process ID, which is also the process group
// of every backend it forks (the server is started in its own group), so a
// caller can add up the CPU time of the whole server.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop ends the server at once and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		// SIGQUIT is PostgreSQL's immediate shutdown; the data is thrown
		// away anyway.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}
