package password

import "context"

// WithSlotForTest runs f while holding one hashing slot.
func WithSlotForTest(h *Hasher, ctx context.Context, f func()) error {
	release, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	f()
	return nil
}
