package runner_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// kindCase is one runner kind with the options its tests use.
type kindCase struct {
	kind runner.Type
	opts runner.Options
	// linux: must be available on Linux when RR_REQUIRE_ALL_RUNNERS=1.
	linux bool
	// readDirOpts returns options that let a command read dir, with dir
	// given through the {{ .dir }} param; and the path to use for a file
	// named name inside dir as the command sees it.
	readDirOpts func(base runner.Options) runner.Options
	pathInside  func(dir, name string) string
	// spawns is how many spawns the leak test makes (containers are slow).
	spawns int
}

func systemFolders() []string {
	var dirs []string
	for _, d := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32"} {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func with(base runner.Options, extra runner.Options) runner.Options {
	out := runner.Options{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func hostPath(dir, name string) string { return filepath.Join(dir, name) }

func kinds() []kindCase {
	landrunBase := runner.Options{
		"allow_read_exec_folders": systemFolders(),
		"allow_read_folders":      []string{"/etc"},
	}
	return []kindCase{
		{
			kind:        runner.TypeExec,
			linux:       true,
			readDirOpts: func(base runner.Options) runner.Options { return base },
			pathInside:  hostPath,
			spawns:      1000,
		},
		{
			kind:  runner.TypeFirejail,
			opts:  runner.Options{},
			linux: true,
			readDirOpts: func(base runner.Options) runner.Options {
				return with(base, runner.Options{"allow_read_folders": []string{"{{ .dir }}"}})
			},
			pathInside: hostPath,
			spawns:     50,
		},
		{
			kind:  runner.TypeLandrun,
			opts:  landrunBase,
			linux: true,
			readDirOpts: func(base runner.Options) runner.Options {
				return with(base, runner.Options{"allow_read_folders": []string{"/etc", "{{ .dir }}"}})
			},
			pathInside: hostPath,
			spawns:     200,
		},
		{
			kind: runner.TypeDocker,
			opts: runner.Options{
				"image":  "localhost/rr-test:latest",
				"pull":   "never",
				"engine": "podman",
			},
			linux: true,
			readDirOpts: func(base runner.Options) runner.Options {
				return with(base, runner.Options{"mounts": []string{"{{ .dir }}:/data:ro"}})
			},
			pathInside: func(_, name string) string { return "/data/" + name },
			spawns:     10,
		},
		{
			kind:        runner.TypeSandboxExec,
			opts:        runner.Options{},
			readDirOpts: func(base runner.Options) runner.Options { return base },
			pathInside:  hostPath,
			spawns:      50,
		},
	}
}

// available reports whether k can run here. A kind that is missing is
// skipped with the library's explanation, unless RR_REQUIRE_ALL_RUNNERS=1
// demands every Linux kind (as CI does); any error other than a missing
// requirement (bad options in this table, say) fails the test.
func available(t *testing.T, k kindCase) bool {
	t.Helper()
	err := runner.CheckRequirements(k.kind, k.opts)
	if err == nil {
		return true
	}
	if !errors.Is(err, runner.ErrRequirements) {
		t.Fatalf("%s: unexpected error checking requirements: %v", k.kind, err)
	}
	if os.Getenv("RR_REQUIRE_ALL_RUNNERS") == "1" && k.linux && runtime.GOOS == "linux" {
		t.Fatalf("%s is required (RR_REQUIRE_ALL_RUNNERS=1) but not available: %v", k.kind, err)
	}
	t.Skipf("%s is not available here: %v", k.kind, err)
	return false
}

// eachKind runs f as a subtest for every kind available here.
func eachKind(t *testing.T, f func(t *testing.T, k kindCase, r runner.Runner)) {
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			if !available(t, k) {
				return
			}
			r, err := runner.New(k.kind, k.opts, nil)
			if err != nil {
				t.Fatalf("New(%s): %v", k.kind, err)
			}
			t.Cleanup(func() { r.(*runner.Native).Close() })
			f(t, k, r)
		})
	}
}

// uniqueSeconds is a sleep duration no other process on the machine is
// likely to use, so the test can find its processes by command line from
// the host, whatever pid namespace or container they run in.
func uniqueSeconds() string {
	return fmt.Sprint(1_000_000 + rand.Intn(8_000_000))
}

// pidsWithArg lists host processes (zombies excluded) whose argv holds arg.
func pidsWithArg(arg string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue
		}
		for _, a := range bytes.Split(cmdline, []byte{0}) {
			if string(a) == arg {
				pids = append(pids, e.Name())
				break
			}
		}
	}
	return pids
}

func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func countDir(path string) int {
	entries, err := os.ReadDir(path)
	if err != nil {
		return -1
	}
	return len(entries)
}

// openFds lists this process's open fds with what they point to.
func openFds() map[string]string {
	fds := map[string]string{}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds[e.Name()] = target
	}
	return fds
}

func fdDiff(before, after map[string]string) string {
	var b strings.Builder
	for fd, target := range after {
		if before[fd] != target {
			fmt.Fprintf(&b, " %s->%s", fd, target)
		}
	}
	return b.String()
}
