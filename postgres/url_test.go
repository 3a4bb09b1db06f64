package postgres_test

import (
	"testing"

	"github.com/safereset/safereset/postgres"
)

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u@h/db":                 true,
		"postgresql://u@h:5432/db":          true,
		"host=/run/postgresql dbname=reset": true,
		"dbname=reset user=safereset":       true,
		"/var/lib/safereset/safereset.db":   false,
		"./data/x=y.db":                     false,
		"safereset.db":                      false,
		"":                                  false,
		"redis://h:6379":                    false,
	} {
		if got := postgres.IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", s, got, want)
		}
	}
}
