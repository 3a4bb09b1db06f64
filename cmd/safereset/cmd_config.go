package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// runConfig runs `safereset config check`.
func runConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args, ok, err := groupCommand("config", args, stdout)
	if !ok {
		return err
	}
	return withPrefix("config "+sub, runConfigCheck(args, getenv, stdout, stderr))
}

// runConfigCheck parses serve's flags and env twins and validates them
// without opening the database, a listener or a key file.
func runConfigCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, fs := serveFlags(stderr)
	fs.Init("config check", flag.ContinueOnError)
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if err := c.validate(); err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	for _, w := range unknownEnv(fs) {
		fmt.Fprintln(stderr, "safereset: config check: warning: "+w)
	}
	fmt.Fprintln(stdout, "configuration ok")
	return nil
}
