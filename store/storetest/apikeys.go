package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

func testAPIKeys(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)

	keys := []safereset.APIKey{
		{ID: "b", Name: "second", Hash: hashOf("kb"), CreatedAt: T0.Add(time.Minute)},
		{ID: "c", Name: "first", Hash: hashOf("kc"), CreatedAt: T0},
		{ID: "a", Name: "second-too", Hash: hashOf("ka"), CreatedAt: T0.Add(time.Minute)},
	}
	for _, k := range keys {
		if err := db.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey %s: %v", k.ID, err)
		}
	}

	t.Run("Duplicate", func(t *testing.T) {
		tests := []struct {
			name string
			key  safereset.APIKey
		}{
			{"SameID", safereset.APIKey{ID: "a", Hash: hashOf("other")}},
			{"SameHash", safereset.APIKey{ID: "z", Hash: hashOf("ka")}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := db.CreateAPIKey(ctx, tt.key); !errors.Is(err, safereset.ErrAPIKeyExists) {
					t.Errorf("err = %v, want ErrAPIKeyExists", err)
				}
			})
		}
		if err := db.CreateAPIKey(ctx, safereset.APIKey{ID: " ", Hash: hashOf("blank")}); err == nil {
			t.Error("CreateAPIKey with blank ID succeeded")
		}
	})

	t.Run("ByHash", func(t *testing.T) {
		k, err := db.APIKeyByHash(ctx, hashOf("kb"))
		if err != nil || k.ID != "b" || k.Name != "second" || k.Hash != hashOf("kb") || !k.CreatedAt.Equal(T0.Add(time.Minute)) || k.Revoked() {
			t.Errorf("APIKeyByHash = %+v, %v", k, err)
		}
		if _, err := db.APIKeyByHash(ctx, hashOf("nope")); !errors.Is(err, safereset.ErrAPIKeyNotFound) {
			t.Errorf("unknown hash: err = %v, want ErrAPIKeyNotFound", err)
		}
	})

	t.Run("ListSorted", func(t *testing.T) {
		list, err := db.ListAPIKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
		}
		if got, want := ids, []string{"c", "a", "b"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("ListAPIKeys order = %v, want %v (CreatedAt, then ID)", got, want)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		first := T0.Add(time.Hour)
		if err := db.RevokeAPIKey(ctx, "a", first); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeAPIKey(ctx, "a", first.Add(time.Hour)); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		k, err := db.APIKeyByHash(ctx, hashOf("ka"))
		if err != nil || !k.Revoked() || !k.RevokedAt.Equal(first) {
			t.Errorf("after revoking twice = %+v, %v; want RevokedAt %v", k, err, first)
		}
		if err := db.RevokeAPIKey(ctx, "nope", first); !errors.Is(err, safereset.ErrAPIKeyNotFound) {
			t.Errorf("revoke unknown: err = %v, want ErrAPIKeyNotFound", err)
		}
		if k, _ := db.APIKeyByHash(ctx, hashOf("kb")); k.Revoked() {
			t.Error("revoking key a also revoked key b")
		}
	})
}
