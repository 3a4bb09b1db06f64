package main

import (
	"crypto/rand"

	"github.com/safereset/safereset/server"
)

// labelKeyFile, in the data dir, keys the HMAC that labels JWT subjects
// which are not plain names (see server.Deps.LabelKey).
const labelKeyFile = "label.key"

func newLabelKey() ([]byte, error) {
	k := make([]byte, server.LabelKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}
