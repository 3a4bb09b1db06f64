// Command gen rebuilds the default breach filter from the common-password
// list. Run it with `go generate ./data` from the module root.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/data"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run builds the filter in the current directory, which go generate sets
// to data/.
func run() error {
	rep, err := breach.Build(context.Background(), breach.DefaultBuildOptions(filepath.Join(".", data.DefaultFilterFile), filepath.Join(".", data.CommonPasswordsFile)))
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d passwords, m=%d, k=%d, %d bytes\n", rep.Out, rep.Header.N, rep.Header.M, rep.Header.K, rep.Header.FileSize())
	return nil
}
