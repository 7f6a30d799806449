package common

import (
	"os/exec"
	"runtime"
)

// CheckExecutableExists reports whether executableName is found in PATH
// (or, if it holds a slash, exists and is executable), as exec.LookPath
// decides.
func CheckExecutableExists(executableName string) bool {
	_, err := exec.LookPath(executableName)
	return err == nil
}

// CheckOSMatches reports whether this program runs on requiredOS (a
// runtime.GOOS value such as "linux" or "darwin"); "" matches any system.
func CheckOSMatches(requiredOS string) bool {
	return requiredOS == "" || runtime.GOOS == requiredOS
}
