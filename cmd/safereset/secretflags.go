package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/safereset/safereset/internal/secretfile"
)

// withSMTPPassword returns rawURL with the password read from passwordFile
// (trimmed) put in its user info, so the password need not appear on the
// command line. With no file, rawURL is returned as it is.
func withSMTPPassword(rawURL, passwordFile string) (string, error) {
	if passwordFile == "" {
		return rawURL, nil
	}
	b, err := secretfile.Read(passwordFile)
	if err != nil {
		return "", fmt.Errorf("--smtp-password-file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("--smtp-password-file %s is empty", passwordFile)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil || u.User.Username() == "" {
		// Never quote the URL: it may hold a password already.
		return "", errors.New("--smtp-password-file needs --smtp-url to name the user (smtp://user@host:port)")
	}
	if _, has := u.User.Password(); has {
		return "", errors.New("give the SMTP password in --smtp-url or --smtp-password-file, not both")
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String(), nil
}

// splitSecrets reads a --jwt-secret-file: one secret a line, the first
// signs and every one verifies, so a rotation puts the new key on top and
// drops the old line once tokens signed with it have expired. Blank lines
// and surrounding spaces are ignored.
func splitSecrets(b []byte) (first []byte, previous [][]byte) {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if first == nil {
			first = []byte(line)
			continue
		}
		previous = append(previous, []byte(line))
	}
	return first, previous
}
