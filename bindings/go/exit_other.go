//go:build !linux

package runner

// awaitExit has no way to wait for a process without a thread here: the
// caller blocks in the library.
func awaitExit(int) bool { return false }
