package server_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset/server"
)

// BenchmarkRangeHTTP is the range API end to end over loopback HTTP with
// keep-alive connections, the clients in the same process (so they share
// the cores with the server). The store has 950 hashes under each of 256
// prefixes, the density of the full corpus; requests pick a prefix at
// random. Reports requests/s and the p50/p99 latency seen by the clients.
//
//	go test -run '^$' -bench RangeHTTP -benchtime 20000x -count 3 ./server
func BenchmarkRangeHTTP(b *testing.B) {
	var in strings.Builder
	r := rand.New(rand.NewPCG(9, 9))
	for p := range 256 {
		for range 950 {
			fmt.Fprintf(&in, "%05X%016X%016X%03X:%d\n", p, r.Uint64(), r.Uint64(), r.Uint32()&0xfff, r.IntN(1000)+1)
		}
	}
	e := buildExact(b, in.String())
	srv, err := server.NewRangeServer(server.RangeDeps{Source: e})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr().String() + "/range/"

	for _, padded := range []bool{false, true} {
		b.Run(fmt.Sprintf("Padded=%v", padded), func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 1))
				var mine []time.Duration
				buf := make([]byte, 64<<10)
				for pb.Next() {
					req, _ := http.NewRequest("GET", fmt.Sprintf("%s%05X", base, r.IntN(256)), nil)
					if padded {
						req.Header.Set("Add-Padding", "true")
					}
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.CopyBuffer(io.Discard, resp.Body, buf)
					resp.Body.Close()
					mine = append(mine, time.Since(t0))
					if resp.StatusCode != 200 || n < 30000 {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			slices.Sort(lat)
			if len(lat) == 0 {
				return
			}
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
