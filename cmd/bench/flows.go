package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var (
	mailToRE    = regexp.MustCompile(`(?m)^To: <?([^>\r\n]+)>?\r?$`)
	mailTokenRE = regexp.MustCompile(`token=([0-9a-f]{32})`)
)

// requestTokens asks for a token for each address and reads the tokens
// from the mails the server writes into its outbox directory.
func (b *bench) requestTokens(emails []string) (map[string]string, error) {
	return requestTokens(b.sr.base, b.key, []string{b.sr.dir}, emails)
}

// requestTokens asks base for a token for each address and reads the
// tokens from the mails written into the outbox directories of the data
// dirs: with several replicas, whichever claims a mail writes it.
func requestTokens(base, key string, dataDirs []string, emails []string) (map[string]string, error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(emails))
	sem := make(chan struct{}, 16)
	for _, e := range emails {
		wg.Add(1)
		sem <- struct{}{}
		go func(e string) {
			defer wg.Done()
			defer func() { <-sem }()
			j, _ := json.Marshal(map[string]string{"emailAddress": e})
			req, _ := http.NewRequest("POST", base+resetPath, bytes.NewReader(j))
			req.Header.Set("X-Api-Key", key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Errorf("token request: status %d", resp.StatusCode)
			}
		}(e)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, e := range emails {
		want[e] = true
	}
	toks := map[string]string{}
	seen := map[string]bool{}
	// The outbox worker is another process writing files: poll them with a
	// deadline.
	deadline := time.Now().Add(2 * time.Minute)
	for len(toks) < len(emails) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d token mails arrived within 2 minutes", len(toks), len(emails))
		}
		for _, d := range dataDirs {
			dir := filepath.Join(d, "outbox")
			entries, _ := os.ReadDir(dir)
			for _, ent := range entries {
				path := filepath.Join(dir, ent.Name())
				if seen[path] || filepath.Ext(ent.Name()) != ".eml" {
					continue
				}
				raw, err := os.ReadFile(path)
				if err != nil {
					continue
				}
				to, tok := mailToRE.FindSubmatch(raw), mailTokenRE.FindSubmatch(raw)
				if to == nil || tok == nil {
					continue // not fully written yet, or not a token mail
				}
				seen[path] = true
				if want[string(to[1])] {
					toks[string(to[1])] = string(tok[1])
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return toks, nil
}

// bodies returns a targeter that sends each body once, then stops the attack.
func bodies(url string, hdr http.Header, bs [][]byte) vegeta.Targeter {
	var mu sync.Mutex
	i := 0
	return func(t *vegeta.Target) error {
		mu.Lock()
		defer mu.Unlock()
		if i >= len(bs) {
			return vegeta.ErrNoTargets
		}
		*t = vegeta.Target{Method: "PATCH", URL: url, Header: hdr, Body: bs[i]}
		i++
		return nil
	}
}

// success measures complete resets against the argon2id bound: cores ÷ the
// time of one hash, measured before and after each round.
func (b *bench) success() error {
	cores := runtime.NumCPU()
	conns := 4 * cores
	fmt.Fprintf(b.out, "\nSuccessful reset (default argon2id m=19 MiB t=2 p=1, hash concurrency = %d cores): %d resets per round, %d connections,\ninterleaved with one-hash timings for the bound cores ÷ time of one hash.\n\n", cores, b.cfg.resets, conns)
	samples := 5
	if b.cfg.quick {
		samples = 2
	}
	hashes := []time.Duration{hashTime(samples)}
	parallel := []float64{parallelHashRate(samples)}
	var runs []run
	for round := 0; round < b.cfg.rounds; round++ {
		emails := make([]string, b.cfg.resets)
		for i := range emails {
			emails[i] = fmt.Sprintf("success-%d-%d@example.com", round, i)
		}
		if err := b.sr.importUsers(emails); err != nil {
			return err
		}
		toks, err := b.requestTokens(emails)
		if err != nil {
			return err
		}
		bs := make([][]byte, len(emails))
		for i, e := range emails {
			bs[i] = patchBody(e, strongPW, strongPW, toks[e])
		}
		hdr := http.Header{"X-Api-Key": {b.key}, "Content-Type": {"application/json"}}
		r, err := attack(b.sr.pid(), bodies(b.sr.base+resetPath, hdr, bs), http.StatusNoContent, attackOpts{conns: conns})
		if err != nil {
			return err
		}
		if err := b.checkWrong("successful reset", r); err != nil {
			return err
		}
		runs = append(runs, r)
		hashes = append(hashes, hashTime(samples))
		parallel = append(parallel, parallelHashRate(samples))
	}
	slices.Sort(hashes)
	h := hashes[len(hashes)/2]
	bound := float64(cores) / h.Seconds()
	r := merge(runs)
	ratio := r.rps() / bound
	fmt.Fprintf(b.out, "%-36s %9s %9s %7s | %7s %7s %7s | %9s\n", "path", "resets/s", "bound", "ratio", "p50 ms", "p99 ms", "p99.9", "CPU s/1k")
	fmt.Fprintf(b.out, "%-36s %9.1f %9.1f %6.0f%% | %7s %7s %7s | %9.1f\n", "successful reset 204", r.rps(), bound, 100*ratio,
		ms(r.quantile(0.50)), ms(r.quantile(0.99)), ms(r.quantile(0.999)), r.cpuPer1k())
	fmt.Fprintf(b.out, "one argon2id hash: median %s ms (%d timings, %s–%s ms)\n", ms(h), len(hashes), ms(hashes[0]), ms(hashes[len(hashes)-1]))
	slices.Sort(parallel)
	pr := parallel[len(parallel)/2]
	fmt.Fprintf(b.out, "argon2id on %d goroutines at once: median %.1f hashes/s (%.1f–%.1f); the resets reach %.0f%% of it\n",
		cores, pr, parallel[0], parallel[len(parallel)-1], 100*r.rps()/pr)
	b.target(ratio >= targetSuccess, "successful reset: %.0f%% of the argon2id bound (target >= %.0f%%)", 100*ratio, 100*targetSuccess)
	return nil
}

// posts measures token requests against the floor bound: every valid POST
// answers no sooner than --request-min-duration, so a closed loop of C
// connections cannot exceed C ÷ floor.
func (b *bench) posts() error {
	conns := b.cfg.conns
	bound := float64(conns) / b.cfg.floor.Seconds()
	fmt.Fprintf(b.out, "\nToken requests (POST, 202): closed loop at %d connections; floor bound %d ÷ %s = %.0f req/s.\n\n", conns, conns, b.cfg.floor, bound)
	fmt.Fprintf(b.out, "%-36s %9s %9s %7s | %7s %7s %7s | %9s\n", "path", "req/s", "bound", "ratio", "p50 ms", "p99 ms", "p99.9", "CPU s/1k")
	hdr := http.Header{"X-Api-Key": {b.key}, "Content-Type": {"application/json"}}
	paths := []struct{ name, email string }{
		{"POST, unknown address", "nobody@example.com"},
		{"POST, known address", "known@example.com"},
	}
	runs := make([][]run, len(paths))
	for round := 0; round < b.cfg.rounds; round++ {
		for j := range paths {
			i := j
			if round%2 == 1 {
				i = len(paths) - 1 - j
			}
			body, _ := json.Marshal(map[string]string{"emailAddress": paths[i].email})
			r, err := attack(b.sr.pid(), static("POST", b.sr.base+resetPath, hdr, body), http.StatusAccepted, attackOpts{conns: conns, dur: b.cfg.dur})
			if err != nil {
				return err
			}
			if err := b.checkWrong(paths[i].name, r); err != nil {
				return err
			}
			runs[i] = append(runs[i], r)
		}
	}
	for i, p := range paths {
		r := merge(runs[i])
		ratio := r.rps() / bound
		fmt.Fprintf(b.out, "%-36s %9.0f %9.0f %6.0f%% | %7s %7s %7s | %9.3f\n", p.name, r.rps(), bound, 100*ratio,
			ms(r.quantile(0.50)), ms(r.quantile(0.99)), ms(r.quantile(0.999)), r.cpuPer1k())
		b.target(ratio >= targetPOST, "%s: %.0f%% of the floor bound (target >= %.0f%%)", p.name, 100*ratio, 100*targetPOST)
	}
	return nil
}
