// Package freeport hands out loopback TCP addresses for servers a test or
// the bench starts in another process (or goroutine) that binds them
// itself.
//
// Asking the kernel for port 0 and closing the listener returns a port from
// the ephemeral range, the same range the kernel gives to outgoing
// connections: under load (database pools, load generators) one of those
// connections can take the port before the server binds it, and the
// server fails with "address already in use". Ports here come from below
// the ephemeral range, which outgoing connections never use, and are never
// handed out twice by one process.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// floor is the lowest port handed out; below it live well-known services.
const floor = 10000

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Addr returns "127.0.0.1:PORT" for a port nothing listened on a moment
// ago, below the ephemeral range.
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// Port returns a port as Addr does.
func Port() (int, error) {
	hi := ephemeralLow() - 1
	if hi <= floor {
		return kernelPort()
	}
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := floor + rand.IntN(hi-floor+1)
		if issued[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken by another process
		}
		ln.Close()
		issued[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port below the ephemeral range after 200 tries")
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// kernelPort is the fallback when the ephemeral range starts too low to
// leave room below it.
func kernelPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
