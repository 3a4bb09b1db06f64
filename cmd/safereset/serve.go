package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// runServe is `safereset serve`: parse the settings, build each dependency
// once, serve until a signal, then shut down in order.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, closeLog, err := newLogger(stderr, c.logFormat, c.logLevel, c.logFlush)
	if err != nil {
		return err
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := wire(c, getenv, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	verifyErr := s.checker.verify(c.breachFilter)
	if err := s.srv.Listen(c.addr, c.adminAddr); err != nil {
		return err
	}
	if err := s.listenRange(c, logger); err != nil {
		return err
	}
	workerCtx, stopWorker := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	workerErr := make(chan error, 1)
	wg.Go(func() {
		if err := s.worker.Run(workerCtx); err != nil && !errors.Is(err, context.Canceled) {
			workerErr <- fmt.Errorf("outbox worker: %w", err)
		}
	})
	wg.Go(func() { sweepAudit(workerCtx, s.db, c.events.auditRetention, time.Now, logger) })
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	info := s.checker.Info()
	pub, ops := s.srv.Addrs()
	logger.Info("safereset started", "version", version, "addr", pub.String(), "admin_addr", ops.String(),
		"data_dir", c.dataDir, "breach_source", info.Source, "breach_elements", info.Elements, "smtp", c.smtpURL != "")
	runErr := s.wait(ctx, c, logger, hup, verifyErr, workerErr)

	logger.Info("shutting down", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	// Stop taking requests first and let in-flight ones finish; only then
	// stop the worker, so a token mail queued by a last request is either
	// sent now or kept in the outbox for the next start.
	if err := s.srv.Shutdown(sctx); err != nil {
		logger.Error("shutdown", "error", err.Error())
	}
	if s.ranges != nil {
		if err := s.ranges.Shutdown(sctx); err != nil {
			logger.Error("range listener shutdown", "error", err.Error())
		}
	}
	stopWorker()
	wg.Wait()
	logger.Info("stopped")
	return runErr
}

// wait serves until ctx is done or a part fails; SIGHUP re-reads the
// configured breach filter (an operator replaced the file) and the admin
// token file.
func (s *service) wait(ctx context.Context, c *serveConfig, logger *slog.Logger, hup <-chan os.Signal, verifyErr, workerErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.srv.Err():
			return err
		case err := <-s.rangeErr():
			return err
		case err := <-workerErr:
			return err
		case err := <-verifyErr:
			logger.Error("breach filter failed verification; stopping (fail closed)", "error", err.Error())
			return err
		case <-hup:
			s.reloadAdminToken(logger)
			if err := s.checker.Reload(c.breachFilter); err != nil {
				logger.Error("breach filter reload on SIGHUP failed; the old filter stays", "error", err.Error())
				continue
			}
			i := s.checker.Info()
			logger.Info("breach filter reloaded on SIGHUP", "source", i.Source, "elements", i.Elements)
			if recordReload(ctx, s.db, s.events, i, logger) {
				s.worker.Notify()
			}
		}
	}
}
