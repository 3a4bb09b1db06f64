package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"unicode"

	"github.com/safereset/safereset/internal/secretfile"
	"github.com/safereset/safereset/server"
	"github.com/safereset/safereset/server/page"
)

// pageKeyFile is the key that binds each reset form to its token (the
// form's CSRF value), kept beside the database so forms outlive a restart.
const pageKeyFile = "page.key"

// maxProductName bounds --product-name: it goes into mail subjects.
const maxProductName = 64

// validatePage checks the reset page's and the mails' naming settings.
func (c *serveConfig) validatePage() error {
	if c.productName == "" || len(c.productName) > maxProductName {
		return fmt.Errorf("--product-name must be 1 to %d bytes", maxProductName)
	}
	for _, r := range c.productName {
		// A line break would end the Subject header; other control
		// characters have no business in a name.
		if !unicode.IsPrint(r) {
			return errors.New("--product-name must be printable text on one line")
		}
	}
	if !page.Supported(c.defaultLocale) {
		return fmt.Errorf("--default-locale must be one of %v", page.Languages)
	}
	return c.lock.validate(c.tokenTTL, c.resetPage)
}

// resetPage loads what the reset page needs, or nil with --reset-page=false.
func resetPage(c *serveConfig) (*server.ResetPage, error) {
	if !c.resetPage {
		return nil, nil
	}
	key, err := secretfile.LoadOrCreate(filepath.Join(c.dataDir, pageKeyFile), func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("reset page key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("reset page key: %s holds %d bytes, want at least 32; delete it to make a new one (open forms then need their link again)", filepath.Join(c.dataDir, pageKeyFile), len(key))
	}
	p := &server.ResetPage{CSRFKey: key, Product: c.productName, DefaultLocale: c.defaultLocale}
	c.lock.pageLock(p)
	return p, nil
}
