package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
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

const usage = `usage: safereset <command> [flags]

commands:
  serve                          run the service
  user add EMAIL                 create a user (password on stdin, or --password-hash PHC)
  user import FILE               import users from JSON lines ("-" for stdin)
  user verify EMAIL              check a password from stdin (exit 0 match, 1 no match)
  user delete EMAIL              delete a user
  apikey create NAME             create an API key and print it
  apikey list                    list API keys
  apikey revoke ID               revoke an API key
  jwt issue --subject NAME       mint a client JWT (--ttl 1h)
  breach build|check|info        build, query and inspect breach filters
  backup OUT                     write a hot backup of the database to OUT
  audit                          print the audit trail (--since T, --follow, --json)
  version                        print the version

Run "safereset <command> -h" for the flags of a command.`

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return exitError{code: 2, msg: `no command given (run "safereset help")`}
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, rest, getenv, stdout, stderr)
	case "jwt":
		return runJWT(ctx, rest, getenv, stdout, stderr)
	case "breach":
		err := runBreach(ctx, rest, getenv, stdin, stdout, stderr)
		if errors.Is(err, errBreachedFound) {
			return exitError{code: 1}
		}
		return err
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, getenv, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "safereset", versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return exitError{code: 2, msg: fmt.Sprintf("unknown command %q (run \"safereset help\")", oneLine(cmd))}
	}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors come back to run as one line; only -h prints the flag list.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from its env twin SAFERESET_<FLAG_IN_CAPS>: flag beats env beats
// default.
// Flags may come before or after the arguments ("user add EMAIL
// --password-hash X"); "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(stderr, "usage of safereset %s:\n", fs.Name())
				fs.SetOutput(stderr)
				fs.PrintDefaults()
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
		env := "SAFERESET_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = exitError{code: 2, msg: fmt.Sprintf("%s: invalid value for %s: %v", fs.Name(), env, e)}
			}
		}
	})
	return err
}
