package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// version is set with -ldflags "-X main.version=..." for releases.
var version = "dev"

// exitError ends the process with code after printing msg (if any) on
// stderr. It carries answers that are not failures of the program, such as
// "no match" from `user verify`.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// oneLine keeps an error message to one line, so a stray newline in a cause
// cannot forge extra output lines.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return usageError(`no command given (run "safereset help")`)
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		_, fs := serveFlags(stderr)
		if wantsHelp(rest) {
			printCommandHelp(stdout, fs, true)
			printServeEnv(stdout)
			return nil
		}
		for _, w := range unknownEnv(fs) {
			fmt.Fprintln(stderr, "safereset: serve: warning: "+w)
		}
		return withPrefix("serve", runServe(ctx, rest, getenv, stderr))
	case "config":
		return runConfig(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, rest, getenv, stdout, stderr)
	case "jwt":
		return runJWT(ctx, rest, getenv, stdout, stderr)
	case "admin-token":
		return runAdminToken(ctx, rest, getenv, stdout, stderr)
	case "breach":
		err := runBreach(ctx, rest, getenv, stdin, stdout, stderr)
		if errors.Is(err, errBreachedFound) {
			return exitError{code: 1}
		}
		return err
	case "backup":
		return withPrefix("backup", runBackup(ctx, rest, getenv, stdout, stderr))
	case "audit":
		return withPrefix("audit", runAudit(ctx, rest, getenv, stdout, stderr))
	case "restore":
		return withPrefix("restore", runRestore(ctx, rest, getenv, stdout, stderr))
	case "completion":
		return withPrefix("completion", runCompletion(rest, stdout))
	case "migrate":
		return withPrefix("migrate", runMigrate(ctx, rest, getenv, stdout, stderr))
	case "store":
		return withPrefix("store", runStore(ctx, rest, getenv, stdout, stderr))
	case "version", "-version", "--version":
		if len(rest) > 0 {
			if isHelp(rest[0]) {
				fmt.Fprintln(stdout, "usage: safereset version\n\nprint the version")
				return nil
			}
			return usageError("version: takes no arguments")
		}
		fmt.Fprintln(stdout, "safereset", versionString())
		return nil
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	default:
		return usageError("unknown command %q (run \"safereset help\")", oneLine(cmd))
	}
}

// wantsHelp reports whether -h comes among the flags of args (before "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// withPrefix puts the command's name in front of an error message, once,
// so every failure reads "safereset: <command>: <what went wrong>".
func withPrefix(prefix string, err error) error {
	if err == nil || errors.Is(err, errBreachedFound) {
		return err
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg == "" || strings.HasPrefix(ee.msg, prefix+":") || strings.HasPrefix(ee.msg, prefix+" ") {
			return ee
		}
		ee.msg = prefix + ": " + ee.msg
		return ee
	}
	if m := err.Error(); strings.HasPrefix(m, prefix+":") || strings.HasPrefix(m, prefix+" ") {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors come back to run as one line; only -h prints the flag list.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args (printing the command's help on help when asked
// with -h), then fills every flag not given on the command line from its
// env twin SAFERESET_<FLAG_IN_CAPS>: flag beats env beats
// default.
// Flags may come before or after the arguments ("user add EMAIL
// --password-hash X"); "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, help io.Writer) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandHelp(help, fs, true)
				if fs.Name() == "serve" || fs.Name() == "config check" {
					printServeEnv(help)
				}
				return exitError{code: 0}
			}
			return exitError{code: 2, msg: fs.Name() + ": " + oneLine(err.Error())}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	_ = fs.Parse(append([]string{"--"}, positional...))
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = exitError{code: 2, msg: fmt.Sprintf("%s: invalid value for %s: %v", fs.Name(), env, e)}
			}
		}
	})
	return err
}
