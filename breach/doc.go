// Package breach builds, maps and checks the bloom-filter files that hold
// the Have I Been Pwned Pwned Passwords corpus, and decides whether a new
// password is breached or too weak (SPEC §2.4, §6).
//
// A filter file (FORMAT.md) is a 4 KiB header followed by the filter's
// little-endian 64-bit words. Open maps it read-only and uses the words in
// place, without copying or parsing, so a 3.35 GiB filter is usable in
// milliseconds. Version 1 is bloom/v3's layout (Open wraps the words with
// bloom.FromWithM); version 2, the default for new filters, is blocked: all
// k bits of a key in one 512-bit block, one cache line per lookup. Keys are the raw 20-byte SHA-1 digests of the
// passwords' UTF-8 bytes, so a check hashes the password and tests the same
// 20 bytes. Build writes files; its fast path computes bloom/v3's bit
// locations itself, sorts them by 512 KiB region of the filter and sets them
// region by region on every core.
//
// # Caveats
//
//   - A bloom filter has false positives: at the default target of 0.001,
//     one password in a thousand that is not in the corpus is still refused.
//     It has no false negatives.
//   - Open checks only what is cheap (magic, version, header checksum, m, k
//     and the exact file length). The checksum of the words is checked by
//     Filter.Verify, `safereset breach info --verify`, Build's --base, and
//     Reload with CheckerOptions.VerifyOnReload, because it reads the whole
//     file (a full-size filter is 3.35 GiB).
//   - The mapped words are shared with the page cache: until they are paged
//     in, the first checks can wait for the disk. Open asks the kernel to read
//     the file ahead in the background (MADV_WILLNEED); Verify pages it all in.
//   - At full size each probe can miss the TLB. Open asks for 2 MiB pages
//     (MADV_HUGEPAGE), which the kernel grants for a file read in fresh on
//     filesystems with large folios (ext4, xfs), but not for pages already
//     cached in 4 KiB pieces (say, a file just written by Build).
//     CheckerOptions.CopyToMemory copies the filter into huge-page memory
//     in the background instead, at the cost of its size in private memory.
//   - Rewriting a mapped file in place changes a running filter under it,
//     and truncating it makes reads past the new end fault (SIGBUS). Build
//     never does either: it writes a temporary file and renames it. Against
//     an operator who does, Lookup reads the mapping with
//     debug.SetPanicOnFault, and Open takes a kernel read lease on the file
//     (lease_linux.go): an open for writing or a truncation by anyone waits
//     in the kernel until the lease's watcher has marked the filter broken.
//     Where the lease is refused, Lookup instead checks the open file's
//     size, modification time and mapped header after each read (one
//     fstat); a change that keeps size, time and header (words rewritten
//     within one timestamp tick) is then not seen. A fault or a change
//     marks the filter broken, and every check on it fails with
//     ErrFileChanged (fail closed) until a Reload. Filter.Guard says which.
//   - The file format assumes nothing about the host, but words are used in
//     place only on little-endian machines; elsewhere they are copied.
package breach
