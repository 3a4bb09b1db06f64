//go:build !linux

package breach

// Leases are Linux's; elsewhere the guard checks the file after each
// lookup.
func (f *Filter) takeLease() bool { return false }

func (f *Filter) dropLease() {}

func (f *Filter) releaseLease() {}
