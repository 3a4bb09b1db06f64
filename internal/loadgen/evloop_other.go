//go:build !linux

package loadgen

import "errors"

// haveLoops says this system has the event-loop engine: it has not, and
// every run is portable.
const haveLoops = false

func runLoops(Config) (*Result, error) {
	return nil, errors.New("loadgen: no event-loop engine on this system")
}
