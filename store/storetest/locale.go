package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// testUserLocale: a user's locale is stored with it and comes back from
// every read, including the ones the token and confirmation mails are
// rendered from.
func testUserLocale(t *testing.T, open Open) {
	db, clk := fresh(t, open)
	ctx := context.Background()
	for _, tc := range []struct{ email, locale string }{{"nl@example.com", "nl"}, {"none@example.com", ""}} {
		u, err := db.CreateUser(ctx, safereset.User{Email: tc.email, EmailKey: safereset.NormalizeEmail(tc.email),
			PasswordHash: "$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", Locale: tc.locale})
		if err != nil {
			t.Fatal(err)
		}
		if u.Locale != tc.locale {
			t.Errorf("CreateUser returned locale %q, want %q", u.Locale, tc.locale)
		}
		got, err := db.UserByEmail(ctx, u.EmailKey)
		if err != nil || got.Locale != tc.locale {
			t.Errorf("UserByEmail(%s): locale %q (%v), want %q", tc.email, got.Locale, err, tc.locale)
		}
		var seen string
		_, err = db.RequestReset(ctx, u.EmailKey, safereset.ResetToken{Hash: hashOf(tc.email), CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}, 3,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				seen = u.Locale
				return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "s", Text: "t"}, clk.Now().Add(time.Hour), nil
			})
		if err != nil || seen != tc.locale {
			t.Errorf("RequestReset composed for locale %q (%v), want %q", seen, err, tc.locale)
		}
		// The confirmation mail is composed from the user ResetPassword returns.
		after, err := db.ResetPassword(ctx, u.EmailKey, hashOf(tc.email), "$argon2id$v=19$m=65536,t=1,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g", clk.Now())
		if err != nil || after.Locale != tc.locale {
			t.Errorf("ResetPassword returned locale %q (%v), want %q", after.Locale, err, tc.locale)
		}
	}
}
