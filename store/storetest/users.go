package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

func testUsers_CRUD(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)

	u, err := db.CreateUser(ctx, safereset.User{Email: " Alice@Example.com", PasswordHash: "$argon2id$a"})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.EmailKey != "alice@example.com" || !u.CreatedAt.Equal(T0) {
		t.Errorf("created user = %+v", u)
	}
	if u.Email != " Alice@Example.com" {
		t.Errorf("Email changed to %q; the stored address must stay as given", u.Email)
	}
	got, err := db.UserByEmail(ctx, "alice@example.com")
	if err != nil || !sameUser(got, u) {
		t.Fatalf("UserByEmail = %+v, %v; want %+v", got, err, u)
	}

	t.Run("Duplicate", func(t *testing.T) {
		_, err := db.CreateUser(ctx, safereset.User{Email: "ALICE@example.COM"})
		if !errors.Is(err, safereset.ErrUserExists) {
			t.Errorf("err = %v, want ErrUserExists", err)
		}
	})
	t.Run("EmptyEmail", func(t *testing.T) {
		if _, err := db.CreateUser(ctx, safereset.User{Email: "  "}); err == nil {
			t.Error("CreateUser with empty email succeeded")
		}
	})

	bob := mustCreateUser(t, db, "bob@example.com")
	if bob.ID == u.ID {
		t.Errorf("two users share ID %d", bob.ID)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2", n, err)
	}

	at := T0.Add(time.Minute)
	if err := db.SetPasswordHash(ctx, "alice@example.com", "$argon2id$new", at); err != nil {
		t.Fatal(err)
	}
	got, _ = db.UserByEmail(ctx, "alice@example.com")
	if got.PasswordHash != "$argon2id$new" || !got.PasswordChangedAt.Equal(at) {
		t.Errorf("after SetPasswordHash = %+v", got)
	}
	if err := db.SetPasswordHash(ctx, "alice@example.com", "", at); err == nil {
		t.Error("SetPasswordHash with an empty hash succeeded")
	}
	if err := db.SetPasswordHash(ctx, "nobody@example.com", "x", at); !errors.Is(err, safereset.ErrUserNotFound) {
		t.Errorf("SetPasswordHash unknown: err = %v, want ErrUserNotFound", err)
	}

	if err := db.DeleteUser(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByEmail(ctx, "alice@example.com"); !errors.Is(err, safereset.ErrUserNotFound) {
		t.Errorf("UserByEmail after delete: err = %v, want ErrUserNotFound", err)
	}
	if err := db.DeleteUser(ctx, "alice@example.com"); !errors.Is(err, safereset.ErrUserNotFound) {
		t.Errorf("second DeleteUser: err = %v, want ErrUserNotFound", err)
	}
	if n, _ := db.CountUsers(ctx); n != 1 {
		t.Errorf("CountUsers after delete = %d, want 1", n)
	}
	// The address is free again.
	if _, err := db.CreateUser(ctx, safereset.User{Email: "alice@example.com"}); err != nil {
		t.Errorf("re-create after delete: %v", err)
	}
}

func testUsers_DeleteRemovesTokens(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	MustRequest(t, db, "alice@example.com", "t1", T0.Add(time.Hour))
	if err := db.DeleteUser(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	// A new account with the same address must not inherit the old token.
	mustCreateUser(t, db, "alice@example.com")
	if err := db.CheckToken(ctx, "alice@example.com", hashOf("t1"), T0); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Errorf("old token after delete and re-create: err = %v, want ErrTokenInvalid", err)
	}
	// The cleanup's Check proves no orphaned token records remain.
}

func testUsers_EmailKeyIsNormalizeEmail(t *testing.T, open Open) {
	tests := []struct {
		name   string
		stored string
		lookup string
		found  bool
	}{
		{"ASCIICase", "victim@example.com", "Victim@Example.COM", true},
		{"Spaces", "victim@example.com", "  victim@example.com\t", true},
		{"KelvinSign", "kelvin@example.com", "\u212Aelvin@example.com", false},
		{"KelvinSignStored", "\u212Aelvin@example.com", "kelvin@example.com", false},
		{"DotlessI", "info@example.com", "\u0131nfo@example.com", false},
		{"DottedCapitalI", "info@example.com", "\u0130nfo@example.com", false},
		{"NonASCIIExact", "\u212Aelvin@example.com", "\u212Aelvin@Example.com", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := fresh(t, open)
			want := mustCreateUser(t, db, tt.stored)
			got, err := db.UserByEmail(ctx, safereset.NormalizeEmail(tt.lookup))
			switch {
			case tt.found && (err != nil || got.ID != want.ID):
				t.Errorf("lookup %q: got %+v, %v; want user %d", tt.lookup, got, err, want.ID)
			case !tt.found && !errors.Is(err, safereset.ErrUserNotFound):
				t.Errorf("lookup %q: got %+v, %v; want ErrUserNotFound", tt.lookup, got, err)
			}
			if !tt.found {
				// A look-alike address is a separate account.
				if _, err := db.CreateUser(ctx, safereset.User{Email: tt.lookup}); err != nil {
					t.Errorf("creating look-alike %q: %v", tt.lookup, err)
				}
			}
		})
	}
}

// sameUser compares users field by field, times with Equal.
func sameUser(a, b safereset.User) bool {
	return a.ID == b.ID && a.Email == b.Email && a.EmailKey == b.EmailKey && a.PasswordHash == b.PasswordHash &&
		a.CreatedAt.Equal(b.CreatedAt) && a.PasswordChangedAt.Equal(b.PasswordChangedAt)
}
