//go:build !linux

package loadgen

import "time"

func sleepFor(d time.Duration) { time.Sleep(d) }
