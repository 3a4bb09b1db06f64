package main

import (
	"flag"
	"os"
	"sort"
	"strings"
)

// extraEnv names the SAFERESET_* variables the commands read that are not
// a flag's twin.
func extraEnv() []string {
	return []string{"SAFERESET_ADMIN_TOKEN", "SAFERESET_ADMIN_URL"}
}

// unknownEnv returns a warning for every SAFERESET_* variable in the
// process environment that no flag of fs and no extraEnv entry reads: a
// typo there would otherwise be ignored without a word. The names come
// from os.Environ, since getenv cannot list them; the values are never
// looked at, so nothing secret reaches the warning.
func unknownEnv(fs *flag.FlagSet) []string {
	known := map[string]bool{}
	for _, k := range extraEnv() {
		known[k] = true
	}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	var warns []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SAFERESET_") && !known[k] {
			warns = append(warns, "unknown variable "+oneLine(k)+" is ignored (run \"safereset serve -h\" for the variables)")
		}
	}
	sort.Strings(warns)
	return warns
}
