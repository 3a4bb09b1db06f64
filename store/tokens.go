package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
	bolt "go.etcd.io/bbolt"
)

// errEmptyHash refuses to store an empty password hash, which would lock
// the account in a way that looks like data loss.
var errEmptyHash = errors.New("store: empty password hash")

// errTokenCollision aborts RequestReset when the new token's hash is
// already stored; with 128 random bits it means a broken generator.
var errTokenCollision = errors.New("token hash already stored")

// RequestReset implements safereset.Store. It always commits exactly one
// write transaction, shared with concurrent calls (group commit): for an
// unknown emailKey it seals a mail rendered for the address as given,
// bumps a counter in the meta bucket and writes and removes placeholder
// keys in the buckets a real request touches, so both cases do the same
// work and rewrite about as many pages in the same fsync. For a known user
// it drops the user's expired tokens, stores tok (UserID set from the
// user, CreatedAt from the clock when zero), evicts the oldest tokens by
// CreatedAt until at most maxOutstanding remain (values below 1 count as
// 1, and the new token is never evicted), stores tok.Lock when its Hash
// is set (CreatedAt defaulting to tok's, see storeLockToken) and queues
// the message compose returns, sealed. Any error, including one from
// compose, stores nothing. A user locked at tok.CreatedAt takes the
// unknown address's path in full: same writes, found false, nothing kept.
//
// compose runs before the write transaction, for the user a read
// transaction found (or, for an unknown address, a user with only the
// address as given), so that concurrent calls render their mails in
// parallel rather than one after another under the writer lock. When the
// user changed in between, compose runs again inside the transaction for
// the stored user: it must be quick and must not call the store.
func (db *DB) RequestReset(ctx context.Context, emailKey string, tok safereset.ResetToken, maxOutstanding int,
	compose func(safereset.User) (safereset.Message, time.Time, error), effects ...safereset.EffectsFunc) (bool, error) {
	if tok.ExpiresAt.IsZero() {
		return false, errors.New("store: request reset: token has no expiry")
	}
	maxOutstanding = max(maxOutstanding, 1)
	now := db.now()
	if tok.CreatedAt.IsZero() {
		tok.CreatedAt = now
	}
	withLock := tok.Lock.Hash != [32]byte{}
	if withLock {
		if tok.Lock.ExpiresAt.IsZero() {
			return false, errors.New("store: request reset: lock token has no expiry")
		}
		if tok.Lock.CreatedAt.IsZero() {
			tok.Lock.CreatedAt = tok.CreatedAt
		}
	}
	seen := safereset.User{Email: emailKey, EmailKey: emailKey}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		u, err := userByEmail(tx, emailKey)
		if err == nil && !u.Locked(tok.CreatedAt) {
			seen = u
		}
		if errors.Is(err, safereset.ErrUserNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: request reset: %w", err)
	}
	msg, notAfter, composeErr := compose(seen)
	if composeErr != nil && seen.ID != 0 {
		return false, fmt.Errorf("store: request reset: compose mail: %w", composeErr)
	}
	found := false
	err = db.batch(ctx, func(tx *bolt.Tx) error {
		found = false
		u, err := userByEmail(tx, emailKey)
		if err == nil && u.Locked(tok.CreatedAt) {
			// A locked account ("this wasn't me") answers and costs
			// exactly what an unknown address does.
			err = safereset.ErrUserNotFound
		}
		if errors.Is(err, safereset.ErrUserNotFound) {
			// A compose error is not reported: the decoy only has to cost
			// the same, and an unknown address has no mail that could fail.
			if err := decoyWrites(tx, db.box, tok, now, msg, notAfter, emailKey, effects); err != nil {
				return err
			}
			return bumpCounter(tx.Bucket([]byte(bucketMeta)), []byte(keyUnknownRequests))
		}
		if err != nil {
			return err
		}
		found = true
		tok.UserID = u.ID

		existing, err := userTokens(tx, u.ID)
		if err != nil {
			return err
		}
		kept := existing[:0]
		for _, t := range existing {
			if !now.Before(t.tok.ExpiresAt) {
				if err := deleteToken(tx, t.tok.UserID, t.tok.Hash); err != nil {
					return err
				}
				continue
			}
			kept = append(kept, t)
		}
		// kept is in (CreatedAt, insertion) order; evict from the front.
		for len(kept)+1 > maxOutstanding {
			if err := deleteToken(tx, kept[0].tok.UserID, kept[0].tok.Hash); err != nil {
				return err
			}
			kept = kept[1:]
		}
		if err := insertToken(tx, tok); err != nil {
			return err
		}
		if withLock {
			lt := tok.Lock
			lt.UserID = u.ID
			if err := storeLockToken(tx, lt, now); err != nil {
				return err
			}
		}

		msg, notAfter := msg, notAfter
		if u.ID != seen.ID || u.Email != seen.Email {
			// Created, replaced or changed since the read: render the
			// mail for the stored user after all.
			var err error
			if msg, notAfter, err = compose(u); err != nil {
				return fmt.Errorf("compose mail: %w", err)
			}
		}
		if _, err := enqueue(tx, db.box, safereset.OutboxEntry{
			Message:     msg,
			CreatedAt:   now,
			NotAfter:    notAfter,
			NextAttempt: now,
		}); err != nil {
			return err
		}
		return db.applyEffects(tx, u, effects)
	})
	if err != nil {
		return false, fmt.Errorf("store: request reset: %w", err)
	}
	return found, nil
}

// CheckToken implements safereset.Store: nil when tokenHash is an
// outstanding token of the user with emailKey and now is before its
// expiry; safereset.ErrTokenExpired when it is that user's token but
// expired; safereset.ErrTokenInvalid otherwise (unknown token, unknown
// user, another user's token).
func (db *DB) CheckToken(ctx context.Context, emailKey string, tokenHash [32]byte, now time.Time) error {
	err := db.view(ctx, func(tx *bolt.Tx) error {
		_, err := tokenOwner(tx, emailKey, tokenHash, now)
		return err
	})
	if err != nil && !safereset.IsTokenRefusal(err) {
		return fmt.Errorf("store: check token: %w", err)
	}
	return err
}

// ResetPassword implements safereset.Store. Inside one write transaction
// it re-checks the token exactly as CheckToken does, sets the user's
// PasswordHash to newHash and PasswordChangedAt to now, and deletes every
// outstanding token of the user. Of several concurrent calls with one
// token, exactly one succeeds; the others get safereset.ErrTokenInvalid.
func (db *DB) ResetPassword(ctx context.Context, emailKey string, tokenHash [32]byte, newHash string, now time.Time, effects ...safereset.EffectsFunc) (safereset.User, error) {
	if newHash == "" {
		return safereset.User{}, errEmptyHash
	}
	var u safereset.User
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = validToken(tx, emailKey, tokenHash, now)
		if err != nil {
			return err
		}
		u.PasswordHistory = safereset.PushPasswordHistory(u.PasswordHistory, u.PasswordHash, int(db.history.Load()))
		u.PasswordHash = newHash
		u.PasswordChangedAt = now
		if err := putJSON(tx.Bucket([]byte(bucketUsers)), u64(u.ID), u); err != nil {
			return err
		}
		if err := deleteUserTokens(tx, u.ID); err != nil {
			return err
		}
		return db.applyEffects(tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("store: reset password: %w", err)
	}
	return u, nil
}

// validToken returns the user of emailKey when tokenHash is its token and
// unexpired at now.
func validToken(tx *bolt.Tx, emailKey string, tokenHash [32]byte, now time.Time) (safereset.User, error) {
	id, err := tokenOwner(tx, emailKey, tokenHash, now)
	if err != nil {
		return safereset.User{}, err
	}
	return userRecord(tx, id)
}

// userRecord decodes the record of user id, which tokenUserID has seen.
func userRecord(tx *bolt.Tx, id uint64) (safereset.User, error) {
	var u safereset.User
	_, err := getJSON(tx.Bucket([]byte(bucketUsers)), u64(id), &u)
	return u, err
}

// tokenOwner is validToken without decoding the user: the ID of the user
// of emailKey when tokenHash is its token and unexpired at now. A check
// that needs no more (CheckToken, every guess at a token) reads two
// index entries and one fixed-size token record, and never parses the
// user's JSON record with its password history.
func tokenOwner(tx *bolt.Tx, emailKey string, tokenHash [32]byte, now time.Time) (uint64, error) {
	id, err := tokenUserID(tx, emailKey)
	if err != nil {
		return 0, err
	}
	tok, ok, err := getToken(tx.Bucket([]byte(bucketTokens)), tokenHash)
	if err != nil {
		return 0, err
	}
	if !ok || tok.UserID != id {
		return 0, safereset.ErrTokenInvalid
	}
	if !now.Before(tok.ExpiresAt) {
		return 0, safereset.ErrTokenExpired
	}
	return id, nil
}

// tokenUserID is the ID a token of emailKey must carry: ErrTokenInvalid
// for an unknown address, an error when the index points at no record.
func tokenUserID(tx *bolt.Tx, emailKey string) (uint64, error) {
	id, err := userID(tx, emailKey)
	if errors.Is(err, safereset.ErrUserNotFound) {
		return 0, safereset.ErrTokenInvalid
	}
	if err != nil {
		return 0, err
	}
	if tx.Bucket([]byte(bucketUsers)).Get(u64(id)) == nil {
		return 0, fmt.Errorf("email index points at missing user %d", id)
	}
	return id, nil
}

// storedToken is a token with its insertion sequence, which breaks ties
// between tokens created in the same instant.
type storedToken struct {
	tok safereset.ResetToken
	seq uint64
}

// userTokens returns the user's tokens, oldest (CreatedAt, then insertion)
// first.
func userTokens(tx *bolt.Tx, userID uint64) ([]storedToken, error) {
	prefix := u64(userID)
	tokens := tx.Bucket([]byte(bucketTokens))
	var out []storedToken
	c := tx.Bucket([]byte(bucketUserTokens)).Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != 8+32 || len(v) != 8 {
			return nil, fmt.Errorf("corrupt user token index entry")
		}
		var (
			t   storedToken
			ok  bool
			err error
		)
		t.tok, ok, err = getToken(tokens, [32]byte(k[8:]))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("user token index points at missing token")
		}
		t.seq = binary.BigEndian.Uint64(v)
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b storedToken) int {
		return cmp.Or(a.tok.CreatedAt.Compare(b.tok.CreatedAt), cmp.Compare(a.seq, b.seq))
	})
	return out, nil
}

// insertToken stores tok and its per-user index entry.
func insertToken(tx *bolt.Tx, tok safereset.ResetToken) error {
	tokens := tx.Bucket([]byte(bucketTokens))
	if tokens.Get(tok.Hash[:]) != nil {
		return errTokenCollision
	}
	seq, err := tokens.NextSequence()
	if err != nil {
		return err
	}
	if err := tokens.Put(tok.Hash[:], encodeToken(tok)); err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketUserTokens)).Put(userTokenKey(tok.UserID, tok.Hash), u64(seq))
}

// deleteToken removes one token and its index entry.
func deleteToken(tx *bolt.Tx, userID uint64, hash [32]byte) error {
	if err := tx.Bucket([]byte(bucketTokens)).Delete(hash[:]); err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketUserTokens)).Delete(userTokenKey(userID, hash))
}

// deleteUserTokens removes every token of the user.
func deleteUserTokens(tx *bolt.Tx, userID uint64) error {
	prefix := u64(userID)
	var hashes [][32]byte
	c := tx.Bucket([]byte(bucketUserTokens)).Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != 8+32 {
			return fmt.Errorf("corrupt user token index entry")
		}
		hashes = append(hashes, [32]byte(k[8:]))
	}
	// Deleting while iterating a bbolt cursor skips keys, so delete after.
	for _, h := range hashes {
		if err := deleteToken(tx, userID, h); err != nil {
			return err
		}
	}
	return nil
}

// userTokenKey is the per-user index key: user ID then token hash.
func userTokenKey(userID uint64, hash [32]byte) []byte {
	return append(u64(userID), hash[:]...)
}

// bumpCounter adds one to the uint64 stored under key.
func bumpCounter(b *bolt.Bucket, key []byte) error {
	var n uint64
	if v := b.Get(key); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	return b.Put(key, u64(n+1))
}

// tokenRecordLen is the size of a stored token record: user ID, CreatedAt
// and ExpiresAt (timeKey encoding). The hash is the key. A fixed binary
// layout instead of JSON keeps the hot path cheap: RequestReset reads
// every outstanding token of the user.
const tokenRecordLen = 8 + 12 + 12

// encodeToken returns tok's stored record.
func encodeToken(tok safereset.ResetToken) []byte {
	b := make([]byte, 0, tokenRecordLen)
	b = append(b, u64(tok.UserID)...)
	b = append(b, timeKey(tok.CreatedAt)...)
	return append(b, timeKey(tok.ExpiresAt)...)
}

// getToken loads the token stored under hash.
func getToken(tokens *bolt.Bucket, hash [32]byte) (safereset.ResetToken, bool, error) {
	v := tokens.Get(hash[:])
	if v == nil {
		return safereset.ResetToken{}, false, nil
	}
	if len(v) != tokenRecordLen {
		return safereset.ResetToken{}, true, fmt.Errorf("corrupt token record (%d bytes)", len(v))
	}
	return safereset.ResetToken{
		Hash:      hash,
		UserID:    binary.BigEndian.Uint64(v[:8]),
		CreatedAt: keyTime(v[8:20]),
		ExpiresAt: keyTime(v[20:32]),
	}, true, nil
}

// decoyWrites does for an unknown address the work a real RequestReset
// does: it seals the mail rendered for the address as given (and never
// queues it), and puts and deletes a placeholder key in each bucket a
// real request changes, so that bbolt rewrites comparable pages and an
// unknown address costs what a known one does. It never touches a stored
// record: the placeholder keys cannot belong to one (user ID 0 and outbox
// ID MaxUint64 are never assigned; a stored token hash is skipped). The
// effects a known address would record (audit line, webhook deliveries)
// are rendered for emailKey, encoded and sealed the same way, and put and
// deleted under outbox and audit IDs counting down from MaxUint64.
func decoyWrites(tx *bolt.Tx, box *seal.Box, tok safereset.ResetToken, now time.Time, msg safereset.Message, notAfter time.Time,
	emailKey string, effects []safereset.EffectsFunc) error {
	const noID = math.MaxUint64
	entry, err := sealEntry(box, noID, safereset.OutboxEntry{Message: msg, CreatedAt: now, NotAfter: notAfter, NextAttempt: now})
	if err != nil {
		return err
	}
	hash := tok.Hash
	type decoy struct {
		bucket string
		key    []byte
		value  []byte
	}
	decoys := []decoy{
		{bucketTokens, hash[:], encodeToken(tok)},
		{bucketUserTokens, userTokenKey(0, hash), u64(0)},
		{bucketOutbox, u64(noID), entry},
		{bucketOutboxDue, dueKey(now, noID), []byte{}},
	}
	if tok.Lock.Hash != [32]byte{} {
		decoys = append(decoys, decoy{bucketLockTokens, lockTokenKey(0, tok.Lock.Hash), encodeLockToken(tok.Lock)})
	}
	decoyUser := safereset.User{Email: emailKey, EmailKey: emailKey}
	auditID, outboxID := uint64(noID), uint64(noID-1)
	for _, fn := range effects {
		if fn == nil {
			continue
		}
		e, err := fn(decoyUser)
		if err != nil {
			continue // as with compose: the decoy only has to cost the same
		}
		for _, a := range e.Audit {
			a.ID, a.Time, a.UserID = auditID, now, noID
			raw, err := json.Marshal(a)
			if err != nil {
				return err
			}
			decoys = append(decoys, decoy{bucketAudit, u64(auditID), raw})
			auditID--
		}
		for _, o := range e.Outbox {
			raw, err := sealEntry(box, outboxID, o)
			if err != nil {
				return err
			}
			decoys = append(decoys, decoy{bucketOutbox, u64(outboxID), raw}, decoy{bucketOutboxDue, dueKey(now, outboxID), []byte{}})
			outboxID--
		}
	}
	for _, d := range decoys {
		b := tx.Bucket([]byte(d.bucket))
		if b.Get(d.key) != nil {
			continue
		}
		if err := b.Put(d.key, d.value); err != nil {
			return err
		}
		if err := b.Delete(d.key); err != nil {
			return err
		}
	}
	return nil
}
