package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/safereset/safereset/breach"
)

// errBreachedFound is returned by `breach check` when at least one password
// was not ok; every verdict has already been printed, so main prints
// nothing more and exits 1.
var errBreachedFound = errors.New("breach check: at least one password is breached")

// defaultMinStrength is the zxcvbn score serve requires of a new
// password unless configured otherwise; breach check applies the same.
const defaultMinStrength = 3

// runBreach runs `safereset breach build|check|info`.
func runBreach(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, rest, ok, err := groupCommand("breach", args, stdout)
	if !ok {
		return err
	}
	switch sub {
	case "build":
		err = runBreachBuild(ctx, rest, stdin, stdout, stderr)
	case "check":
		err = runBreachCheck(rest, getenv, stdin, stdout, stderr)
	case "info":
		err = runBreachInfo(rest, stdout, stderr)
	}
	return withPrefix("breach "+sub, err)
}

// breachParseArgs parses flags that may come before, between or after
// the positional arguments ("info FILE --verify"), and returns the
// positional ones. Everything after "--" is positional.
func breachParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newBreachFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("breach "+name, flag.ContinueOnError)
	// The flag package would print a parse error and then every flag; the
	// error comes back as the one line main prints instead, and the flags
	// are printed only when asked for with -h (breachFlagErr).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// breachFlagErr turns a flag parsing error into the one line to print,
// a usage error. -h is not an error: it prints the command's help.
func breachFlagErr(fs *flag.FlagSet, err error, help io.Writer) error {
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(help, fs, false)
		return nil
	}
	return usageError("%s: %s", fs.Name(), oneLine(err.Error()))
}

func runBreachBuild(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newBreachFlags("build")
	var opts breach.BuildOptions
	fs.StringVar(&opts.Out, "out", "", "filter file to write (required)")
	fs.Float64Var(&opts.FPR, "fpr", breach.DefaultFPR, "target false-positive rate (ignored with --base)")
	fs.Uint64Var(&opts.MinCount, "min-count", 1, "skip hashes seen fewer times than this")
	fs.Uint64Var(&opts.Expected, "expected", 0, "hashes to size the filter for (default: estimated from the input size)")
	fs.StringVar(&opts.Base, "base", "", "existing filter to add the inputs to (keeps its m and k)")
	fs.StringVar(&opts.Exact, "exact", "", "also write the exact store (every hash with its count, for --breach-exact and --range-addr) to this file, in the same pass")
	fs.StringVar(&opts.ExactBase, "exact-base", "", "existing exact store to merge in (required with --base and --exact)")
	fs.BoolVar(&opts.Plain, "plain", false, "inputs are plaintext passwords, one a line, not SHA1HEX:COUNT")
	fs.StringVar(&opts.Source, "source", "", "source description for the header (default: the input names)")
	fs.IntVar(&opts.Workers, "workers", 0, "hashing goroutines (default: one per CPU)")
	var version uint
	fs.UintVar(&version, "format-version", 0, "format of a new filter: 2 (blocked, one cache line per lookup; the default) or 1 (bloom/v3 layout); --base keeps the base's")
	fs.BoolVar(&opts.OneAtATime, "one-at-a-time", false, "insert with bloom's Add, one key at a time on one core (slow baseline for benchmarks)")
	inputs, err := breachParseArgs(fs, args)
	if err != nil {
		return breachFlagErr(fs, err, stdout)
	}
	if opts.Out == "" {
		return usageError("breach build: --out FILE is required")
	}
	if version != 0 && version != breach.FormatV1 && version != breach.FormatV2 {
		return usageError("breach build: --format-version %d: want 1 or 2", version)
	}
	opts.Version = uint32(version)
	if opts.ExactBase != "" && opts.Exact == "" {
		return usageError("breach build: --exact-base needs --exact FILE")
	}
	if opts.Exact != "" && opts.Exact == opts.Out {
		return usageError("breach build: --exact and --out name the same file")
	}
	if len(inputs) == 0 {
		return usageError("breach build: no inputs (files, directories of range files, or - for stdin)")
	}
	opts.Inputs = inputs
	opts.Stdin = stdin
	if breachIsTerminal(stderr) {
		opts.Progress = stderr
	}
	rep, err := breach.Build(ctx, opts)
	if err != nil {
		return err
	}
	h := rep.Header
	fmt.Fprintf(stdout, "wrote %s (%s)\n", rep.Out, breachSize(h.FileSize()))
	fmt.Fprintf(stdout, "elements: %d (added %d, skipped %d below min count, %d malformed lines)\n", h.N, rep.Added, rep.Skipped, rep.Malformed)
	fmt.Fprintf(stdout, "format version: %d, layout: %s\n", h.Version, h.Layout())
	fmt.Fprintf(stdout, "m: %d bits, k: %d\n", h.M, h.K)
	fmt.Fprintf(stdout, "false-positive rate: target %g, expected %.3g, from bits set %.3g\n", h.TargetFPR, rep.ExpectedFPR, rep.FillFPR)
	secs := rep.Duration.Seconds()
	fmt.Fprintf(stdout, "read %s in %s (%.2fM hashes/s)\n", breachSize(uint64(rep.BytesRead)), rep.Duration.Round(time.Millisecond), float64(rep.Added)/max(secs, 1e-9)/1e6)
	if e := rep.Exact; e != nil {
		eh := e.Header
		fmt.Fprintf(stdout, "wrote %s (%s): %d hashes with counts (%d duplicates merged, %d kept from the base), %.2f bytes per hash\n",
			e.Out, breachSize(eh.FileSize()), eh.N, e.Duplicates, e.FromBase, float64(eh.FileSize())/float64(max(eh.N, 1)))
	}
	for _, s := range rep.Samples {
		fmt.Fprintf(stderr, "malformed line %s\n", s)
	}
	if n := len(rep.IgnoredFiles); n > 0 {
		fmt.Fprintf(stderr, "ignored %d file(s) not named like range files, such as %s\n", n, rep.IgnoredFiles[0])
	}
	if rep.Oversized {
		fmt.Fprintf(stderr, "warning: the filter holds more hashes than it was sized for; its false-positive rate is above the target (rebuild with a larger --expected)\n")
	}
	return nil
}

func runBreachCheck(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newBreachFlags("check")
	path := fs.String("filter", getenv("SAFERESET_BREACH_FILTER"), "filter file (env SAFERESET_BREACH_FILTER; default: the embedded common-password list)")
	minScore := fs.Int("min-strength", defaultMinStrength, "also refuse passwords whose zxcvbn score is below this, printing weak, as serve does (env SAFERESET_MIN_STRENGTH; 0: filter only)")
	rest, err := breachParseArgs(fs, args)
	if err != nil {
		return breachFlagErr(fs, err, stdout)
	}
	if len(rest) > 0 {
		return usageError("breach check: unexpected argument %q (passwords come on stdin)", oneLine(rest[0]))
	}
	// serve's rule by default: the same flag's env twin applies here.
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "min-strength" })
	if v := getenv("SAFERESET_MIN_STRENGTH"); v != "" && !explicit {
		if err := fs.Set("min-strength", v); err != nil {
			return usageError("breach check: invalid value for SAFERESET_MIN_STRENGTH: %v", err)
		}
	}
	if *minScore < 0 || *minScore > 4 {
		return usageError("breach check: --min-strength %d is not in 0..4", *minScore)
	}
	var f *breach.Filter
	if *path == "" {
		f, err = breach.OpenDefault()
	} else {
		f, err = breach.Open(*path)
	}
	if err != nil {
		return err
	}
	c := breach.NewChecker(f, breach.CheckerOptions{MinScore: *minScore})
	defer c.Close()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	in := bufio.NewReaderSize(stdin, 64<<10)
	found := false
	for {
		line, rerr := in.ReadString('\n')
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("breach check: read stdin: %w", rerr)
		}
		if line == "" && rerr == io.EOF {
			break
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		v, err := c.Check(pw, nil)
		if err != nil {
			return fmt.Errorf("breach check: %w", err)
		}
		switch {
		case v.Breached:
			fmt.Fprintln(out, "breached")
		case v.Weak:
			fmt.Fprintln(out, "weak")
		default:
			fmt.Fprintln(out, "ok")
		}
		found = found || !v.OK()
		if rerr == io.EOF {
			break
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("breach check: write: %w", err)
	}
	if found {
		return errBreachedFound
	}
	return nil
}

func runBreachInfo(args []string, stdout, stderr io.Writer) error {
	fs := newBreachFlags("info")
	verify := fs.Bool("verify", false, "read every word and check the checksum")
	rest, err := breachParseArgs(fs, args)
	if err != nil {
		return breachFlagErr(fs, err, stdout)
	}
	if len(rest) != 1 {
		return usageError("breach info: want exactly one FILE")
	}
	f, err := breach.Open(rest[0])
	if errors.Is(err, breach.ErrNotFilter) {
		if e, eerr := breach.OpenExact(rest[0]); !errors.Is(eerr, breach.ErrNotExact) {
			return runExactInfo(e, eerr, rest[0], *verify, stdout)
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := f.Header()
	fmt.Fprintf(stdout, "file: %s (%s)\n", rest[0], breachSize(h.FileSize()))
	fmt.Fprintf(stdout, "format version: %d\n", h.Version)
	fmt.Fprintf(stdout, "layout: %s\n", h.Layout())
	fmt.Fprintf(stdout, "elements (n): %d\n", h.N)
	fmt.Fprintf(stdout, "bits (m): %d\n", h.M)
	fmt.Fprintf(stdout, "hash functions (k): %d\n", h.K)
	fmt.Fprintf(stdout, "target false-positive rate: %g\n", h.TargetFPR)
	fmt.Fprintf(stdout, "expected false-positive rate at n: %.3g\n", h.ExpectedFPR())
	fmt.Fprintf(stdout, "built: %s\n", h.BuiltAt.Format(time.RFC3339))
	fmt.Fprintf(stdout, "source: %s\n", h.Source)
	fmt.Fprintf(stdout, "checksum: crc32c %#08x\n", h.Checksum)
	if *verify {
		start := time.Now()
		if err := f.Verify(); err != nil {
			return fmt.Errorf("breach info: %s: %w", rest[0], err)
		}
		fmt.Fprintf(stdout, "verified: checksum ok (%s)\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// breachIsTerminal reports whether w is a terminal, where progress lines belong.
func breachIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func breachSize(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", b)
}

func runExactInfo(e *breach.Exact, err error, path string, verify bool, stdout io.Writer) error {
	if err != nil {
		return err
	}
	defer e.Close()
	h := e.Header()
	fmt.Fprintf(stdout, "file: %s (%s)\n", path, breachSize(h.FileSize()))
	fmt.Fprintf(stdout, "kind: exact store, format version %d\n", h.Version)
	fmt.Fprintf(stdout, "hashes: %d\n", h.N)
	fmt.Fprintf(stdout, "bytes per hash: %.2f (%d-byte records, %d-entry prefix index)\n", float64(h.FileSize())/float64(max(h.N, 1)), breach.RecordSize, breach.Prefixes+1)
	fmt.Fprintf(stdout, "built: %s\n", h.BuiltAt.Format(time.RFC3339))
	fmt.Fprintf(stdout, "source: %s\n", h.Source)
	fmt.Fprintf(stdout, "checksum: crc32c %#08x\n", h.Checksum)
	if verify {
		start := time.Now()
		if err := e.Verify(); err != nil {
			return fmt.Errorf("breach info: %s: %w", path, err)
		}
		fmt.Fprintf(stdout, "verified: checksum ok, index and records in order (%s)\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
