package main

import (
	"fmt"
	"io"
	"strings"
)

// runCompletion prints a completion script for bash, zsh or fish. The
// scripts complete command and subcommand names from the command table;
// flags and file arguments fall back to the shell's own completion.
func runCompletion(args []string, stdout io.Writer) error {
	if len(args) == 1 {
		switch args[0] {
		case "-h", "-help", "--help":
			c, _ := findCommand("completion")
			fmt.Fprintf(stdout, "usage: safereset completion %s\n\n%s\n\n", c.args, c.summary)
			fmt.Fprintln(stdout, "bash: source <(safereset completion bash)")
			fmt.Fprintln(stdout, "zsh:  safereset completion zsh > \"${fpath[1]}/_safereset\"")
			fmt.Fprintln(stdout, "fish: safereset completion fish > ~/.config/fish/completions/safereset.fish")
			return nil
		case "bash":
			return writeBash(stdout)
		case "zsh":
			return writeZsh(stdout)
		case "fish":
			return writeFish(stdout)
		}
	}
	return usageError("want one shell: bash, zsh or fish")
}

// groups returns the top-level commands that have subcommands.
func groups() []string {
	var gs []string
	for _, g := range topLevel() {
		if subcommands(g) != nil {
			gs = append(gs, g)
		}
	}
	return gs
}

func writeBash(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# bash completion for safereset; load with: source <(safereset completion bash)\n")
	b.WriteString("_safereset() {\n")
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]}\n")
	b.WriteString("  if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
	fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(append(topLevel(), "help"), " "))
	b.WriteString("    return\n  fi\n")
	b.WriteString("  if [ \"$COMP_CWORD\" -eq 2 ]; then\n    case ${COMP_WORDS[1]} in\n")
	for _, g := range groups() {
		fmt.Fprintf(&b, "      %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", g, strings.Join(subcommands(g), " "))
	}
	fmt.Fprintf(&b, "      completion) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", "bash zsh fish")
	b.WriteString("    esac\n  fi\n")
	b.WriteString("  COMPREPLY=($(compgen -f -- \"$cur\"))\n")
	b.WriteString("}\n")
	b.WriteString("complete -o default -F _safereset safereset\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeZsh(w io.Writer) error {
	var b strings.Builder
	b.WriteString("#compdef safereset\n# zsh completion for safereset\n")
	b.WriteString("_safereset() {\n")
	b.WriteString("  local -a cmds\n  cmds=(\n")
	for _, g := range topLevel() {
		fmt.Fprintf(&b, "    %s\n", zshQuote(g+":"+summaryOf(g)))
	}
	b.WriteString("  )\n")
	b.WriteString("  if (( CURRENT == 2 )); then\n    _describe 'command' cmds\n    return\n  fi\n")
	b.WriteString("  if (( CURRENT == 3 )); then\n    case ${words[2]} in\n")
	for _, g := range groups() {
		fmt.Fprintf(&b, "      %s) local -a subs; subs=(", g)
		for _, s := range subcommands(g) {
			c, _ := findCommand(g + " " + s)
			fmt.Fprintf(&b, " %s", zshQuote(s+":"+c.summary))
		}
		b.WriteString(" ); _describe 'subcommand' subs; return ;;\n")
	}
	b.WriteString("      completion) local -a shells; shells=(bash zsh fish); _describe 'shell' shells; return ;;\n")
	b.WriteString("    esac\n  fi\n")
	b.WriteString("  _files\n}\n")
	b.WriteString("compdef _safereset safereset\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFish(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# fish completion for safereset\n")
	b.WriteString("complete -c safereset -f\n")
	top := strings.Join(append(topLevel(), "help"), " ")
	for _, g := range topLevel() {
		fmt.Fprintf(&b, "complete -c safereset -n 'not __fish_seen_subcommand_from %s' -a %s -d %s\n", top, g, fishQuote(summaryOf(g)))
	}
	for _, g := range groups() {
		subs := strings.Join(subcommands(g), " ")
		for _, s := range subcommands(g) {
			c, _ := findCommand(g + " " + s)
			fmt.Fprintf(&b, "complete -c safereset -n '__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s' -a %s -d %s\n", g, subs, s, fishQuote(c.summary))
		}
	}
	b.WriteString("complete -c safereset -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	b.WriteString("complete -c safereset -n '__fish_seen_subcommand_from import restore backup info build' -F\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// summaryOf describes a top-level command: its own summary, or the list
// of its subcommands.
func summaryOf(g string) string {
	if c, ok := findCommand(g); ok {
		return c.summary
	}
	return strings.Join(subcommands(g), ", ")
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
