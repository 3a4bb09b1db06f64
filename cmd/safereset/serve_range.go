package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/server"
)

// openExact opens --breach-exact, nil when it is not set. The flags that
// only make sense with it are refused without it rather than ignored.
func openExact(c *serveConfig) (*breach.Exact, error) {
	if c.breachExact == "" {
		switch {
		case c.rangeAddr != "":
			return nil, errors.New("--range-addr needs --breach-exact (the range API serves the exact store)")
		case c.breachMinCount > 1:
			return nil, errors.New("--breach-min-count needs --breach-exact (the filter holds no counts)")
		}
		return nil, nil
	}
	if c.breachFilter == "" {
		return nil, errors.New("--breach-exact needs --breach-filter, the filter built with it (the embedded list has no exact store)")
	}
	e, err := breach.OpenExact(c.breachExact)
	if err != nil {
		return nil, fmt.Errorf("--breach-exact: %w", err)
	}
	return e, nil
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

// newRange builds the range API and listens on --range-addr; it returns
// nils when the flag is empty.
func newRange(c *serveConfig, checker *breach.Checker, limiter safereset.Limiter, clientIP func(net.IP, []string, []string) net.IP,
	m *metrics.Metrics, logger *slog.Logger, verified func() bool) (*fiber.App, net.Listener, error) {
	if c.rangeAddr == "" {
		return nil, nil, nil
	}
	app, err := server.NewRange(server.RangeDeps{
		Source: checker.Exact(), Limiter: limiter, ClientIP: clientIP, Metrics: m, Logger: logger,
		MaxConnsPerIP: c.maxConnsPerIP,
		Ready: func() []string {
			if !verified() {
				return []string{"breach exact store: verifying checksum"}
			}
			return nil
		},
	})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.rangeAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("--range-addr: %w", err)
	}
	logger.Info("range API listening", "range_addr", ln.Addr().String(), "hashes", checker.Exact().Header().N)
	return app, ln, nil
}
