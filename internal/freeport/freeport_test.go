package freeport

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// TestPort_BelowEphemeralAndUnique: concurrent callers get distinct ports,
// each below the kernel's ephemeral range and bindable.
func TestPort_BelowEphemeralAndUnique(t *testing.T) {
	low := ephemeralLow()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		ports = map[int]bool{}
	)
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p, err := Port()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ports[p] {
				t.Errorf("port %d handed out twice", p)
			}
			ports[p] = true
		}()
	}
	close(start)
	wg.Wait()
	for p := range ports {
		if low > floor+1 && (p < floor || p >= low) {
			t.Errorf("port %d outside [%d, %d)", p, floor, low)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d cannot be bound: %v", p, err)
			continue
		}
		ln.Close()
	}
}
