package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionString is the one line `safereset version` prints: the module
// version and VCS revision the Go toolchain stamped into the binary, so a
// bug report names the exact build without anyone setting -ldflags.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	return formatVersion(version, bi)
}

// formatVersion builds the version line from the -ldflags version (when
// set) and the build info.
func formatVersion(ldflags string, bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if ldflags != "dev" && ldflags != "" {
		v = ldflags
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	parts := []string{v}
	if rev != "" {
		r := "revision " + rev
		if modified {
			r += "+modified"
		}
		if at != "" {
			r += " " + at
		}
		parts = append(parts, r)
	}
	parts = append(parts, bi.GoVersion)
	return fmt.Sprint(strings.Join(parts, ", "))
}
