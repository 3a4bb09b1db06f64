package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// command is one leaf of the command tree: what `safereset help`, each
// `-h`, the shell completions and the CLI tests are generated from, so a
// new command cannot be missing from one of them.
type command struct {
	path    string // "user add"
	args    string // positional arguments, as the usage line names them
	summary string
}

// commands lists every command and subcommand in help order.
func commands() []command {
	return []command{
		{"serve", "", "run the service"},
		{"config check", "", "validate serve's flags and SAFERESET_* variables without starting"},
		{"user add", "EMAIL", "create a user (password on stdin, or --password-hash PHC)"},
		{"user import", "FILE", `import users from JSON lines ("-" for stdin)`},
		{"user verify", "EMAIL", "check a password from stdin (exit 0 match, 1 no match)"},
		{"user delete", "EMAIL", "delete a user"},
		{"user unlock", "EMAIL", "lift a \"this wasn't me\" lock, so the user gets reset mails again"},
		{"apikey create", "NAME", "create an API key and print it"},
		{"apikey list", "", "list API keys"},
		{"apikey revoke", "ID", "revoke an API key"},
		{"jwt issue", "", "mint a client JWT (--subject NAME, --ttl 1h)"},
		{"admin-token rotate", "", "replace the admin token; the running server switches at once (--overlap D keeps the old one valid)"},
		{"breach build", "INPUT...", "build a breach filter (and with --exact, the exact store) from hash or password lists"},
		{"breach check", "", "check passwords from stdin, one a line, as serve would"},
		{"breach info", "FILE", "show a breach filter's or exact store's header"},
		{"backup", "OUT", "write an archive of the database and its key files to OUT"},
		{"restore", "ARCHIVE", "restore an archive into an empty --data-dir (offline)"},
		{"audit", "", "print the audit trail (--since T, --follow, --json)"},
		{"migrate", "", "apply the PostgreSQL schema migrations (--database-url)"},
		{"store copy", "", "copy everything between a bbolt file and PostgreSQL, offline (--from, --to)"},
		{"completion", "bash|zsh|fish", "print a shell completion script"},
		{"version", "", "print the version"},
	}
}

// findCommand returns the command at path.
func findCommand(path string) (command, bool) {
	for _, c := range commands() {
		if c.path == path {
			return c, true
		}
	}
	return command{}, false
}

// subcommands returns the names under group ("user" → add, import, ...),
// nil when group is a leaf or unknown.
func subcommands(group string) []string {
	var subs []string
	for _, c := range commands() {
		if g, sub, ok := strings.Cut(c.path, " "); ok && g == group {
			subs = append(subs, sub)
		}
	}
	return subs
}

// topLevel returns the first words of every command, once each.
func topLevel() []string {
	var names []string
	seen := map[string]bool{}
	for _, c := range commands() {
		g, _, _ := strings.Cut(c.path, " ")
		if !seen[g] {
			seen[g] = true
			names = append(names, g)
		}
	}
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: safereset <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.path+" "+c.args), c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "safereset <command> -h" for the flags of a command.`)
	fmt.Fprintln(w, "Usage errors exit 2, failures exit 1.")
}

// printGroupUsage prints the subcommands of group, for `safereset user -h`.
func printGroupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: safereset %s <subcommand> [flags] [arguments]\n\nsubcommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		if strings.HasPrefix(c.path, group+" ") {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.path+" "+c.args), c.summary)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun \"safereset %s <subcommand> -h\" for its flags.\n", group)
}

// groupCommand handles what every command group does the same way: help,
// a missing subcommand and an unknown one. It returns the subcommand to
// run, or ok false with the error (nil after help) to return.
func groupCommand(group string, args []string, stdout io.Writer) (sub string, rest []string, ok bool, err error) {
	subs := subcommands(group)
	want := strings.Join(subs, ", ")
	if len(args) == 0 {
		return "", nil, false, usageError("%s: want a subcommand: %s (run \"safereset %s -h\")", group, want, group)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printGroupUsage(stdout, group)
		return "", nil, false, nil
	}
	for _, s := range subs {
		if s == args[0] {
			return s, args[1:], true, nil
		}
	}
	return "", nil, false, usageError("%s: unknown subcommand %q (want %s)", group, oneLine(args[0]), want)
}

// usageError is a mistake in how a command was called: exit status 2.
func usageError(format string, a ...any) error {
	return exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

// printCommandHelp prints the usage line of the command that fs parses,
// then its flags. withEnv shows each flag's SAFERESET_* twin, for the
// commands whose flags read them.
func printCommandHelp(w io.Writer, fs *flag.FlagSet, withEnv bool) {
	c, _ := findCommand(fs.Name())
	line := "safereset " + fs.Name()
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "usage: %s [flags]\n", line)
	if c.summary != "" {
		fmt.Fprintf(w, "\n%s\n", c.summary)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	printFlags(w, fs, withEnv)
}

// printFlags lists the flags of fs. It does not use flag.PrintDefaults,
// which takes a back-quoted word in a usage text as the name of the value
// and garbles the sentence.
func printFlags(w io.Writer, fs *flag.FlagSet, withEnv bool) {
	fs.VisitAll(func(f *flag.Flag) {
		head := "  --" + f.Name
		if t := flagType(f); t != "" {
			head += " " + t
		}
		if withEnv {
			head += "   (env " + envName(f.Name) + ")"
		}
		fmt.Fprintln(w, head)
		usage := f.Usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "        %s\n", usage)
	})
}

// envName is the SAFERESET_* variable that fills flag name when it is not
// given on the command line.
func envName(flagName string) string {
	return "SAFERESET_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagType names the kind of value a flag takes ("" for a bool switch).
func flagType(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	t := fmt.Sprintf("%T", f.Value)
	t = strings.TrimPrefix(t, "*flag.")
	t = strings.TrimSuffix(t, "Value")
	switch t {
	case "string", "duration", "int", "uint", "int64", "uint64", "float64":
		return t
	}
	return "value"
}

// printServeEnv lists the variables serve reads that are not a flag's twin.
func printServeEnv(w io.Writer) {
	fmt.Fprintln(w, "\nenvironment (besides each flag's twin above):")
	fmt.Fprintln(w, "  SAFERESET_ADMIN_TOKEN")
	fmt.Fprintln(w, "        the admin API token, at least 32 characters; unset: <data-dir>/admin.token, generated on first start")
	fmt.Fprintln(w, "  GOMEMLIMIT")
	fmt.Fprintln(w, "        Go's soft memory limit; unset: sized from --hash-concurrency × --argon2-memory")
	fmt.Fprintln(w, "\nA SAFERESET_* variable that is none of these is reported as a warning at start.")
}
