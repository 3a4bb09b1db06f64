package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/server"
)

// validateExact refuses the flags that only make sense with --breach-exact
// when it is missing, rather than ignoring them.
func (c *serveConfig) validateExact() error {
	switch {
	case c.breachExact == "" && c.rangeAddr != "":
		return errors.New("--range-addr needs --breach-exact (the range API serves the exact store)")
	case c.breachExact == "" && c.breachMinCount > 1:
		return errors.New("--breach-min-count needs --breach-exact (the filter holds no counts)")
	case c.breachExact != "" && c.breachFilter == "":
		return errors.New("--breach-exact needs --breach-filter, the filter built with it (the embedded list has no exact store)")
	}
	return nil
}

// openExact opens --breach-exact, nil when it is not set.
// It must come from the same build as the filter f.
func openExact(c *serveConfig, f *breach.Filter) (*breach.Exact, error) {
	if c.breachExact == "" {
		return nil, nil
	}
	e, err := breach.OpenExact(c.breachExact)
	if err != nil {
		return nil, fmt.Errorf("--breach-exact: %w", err)
	}
	if err := breach.Paired(f, e); err != nil {
		e.Close()
		return nil, fmt.Errorf("--breach-exact %s: %w", c.breachExact, err)
	}
	return e, nil
}

// verifyExact checks the exact store like the filter: in the background,
// the service unready until it passes, a mismatch stopping it.
func (v *verifiedChecker) verifyExact() error {
	e := v.Exact()
	if e == nil {
		return nil
	}
	if err := e.Verify(); err != nil {
		return fmt.Errorf("breach exact store %s: %w", e.Path(), err)
	}
	return nil
}

// exactCounts feeds the two-stage metrics, nil without an exact store.
func exactCounts(checker *breach.Checker) func() metrics.ExactCounts {
	if checker.Exact() == nil {
		return nil
	}
	return func() metrics.ExactCounts {
		s := checker.ExactStats()
		return metrics.ExactCounts{BloomHits: s.BloomHits, Confirmed: s.Confirmed, FalsePositives: s.FalsePositives, BelowMinCount: s.BelowMinCount}
	}
}

// newRangeServer builds the range API for --range-addr, nil when the flag
// is empty.
func newRangeServer(c *serveConfig, checker *verifiedChecker, limiter safereset.Limiter, m *metrics.Metrics, logger *slog.Logger) (*server.RangeServer, error) {
	if c.rangeAddr == "" {
		return nil, nil
	}
	return server.NewRangeServer(server.RangeDeps{
		Source: checker.Exact(), Limiter: limiter, ClientIP: c.clientIP, Metrics: m, Logger: logger,
		MaxConnsPerIP: c.maxConnsPerIP,
		Ready: func() []string {
			if err := checker.Ping(context.Background()); err != nil {
				return []string{err.Error()}
			}
			return nil
		},
	})
}

// listenRange starts the range API, when configured.
func (s *service) listenRange(c *serveConfig, logger *slog.Logger) error {
	if s.ranges == nil {
		return nil
	}
	if err := s.ranges.Listen(c.rangeAddr); err != nil {
		return fmt.Errorf("--range-addr: %w", err)
	}
	logger.Info("range API listening", "range_addr", s.ranges.Addr().String(), "hashes", s.checker.Exact().Header().N)
	return nil
}

// rangeErr delivers a failure of the range listener; it never delivers
// without one.
func (s *service) rangeErr() <-chan error {
	if s.ranges == nil {
		return nil
	}
	return s.ranges.Err()
}
