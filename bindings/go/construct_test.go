package runner_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

// have reports whether kind, with the options of the kinds() table, can run
// here; like available, a Linux kind missing under RR_REQUIRE_ALL_RUNNERS=1
// fails the test, but a missing kind does not skip the caller.
func have(t *testing.T, kind runner.Type) (kindCase, bool) {
	t.Helper()
	for _, k := range kinds() {
		if k.kind != kind {
			continue
		}
		err := runner.CheckRequirements(k.kind, k.opts)
		if err == nil {
			return k, true
		}
		if os.Getenv("RR_REQUIRE_ALL_RUNNERS") == "1" && k.linux && runtime.GOOS == "linux" {
			t.Fatalf("%s is required (RR_REQUIRE_ALL_RUNNERS=1) but not available: %v", kind, err)
		}
		t.Logf("%s is not available here: %v", kind, err)
		return k, false
	}
	t.Fatalf("no %s in kinds()", kind)
	return kindCase{}, false
}

// go-restricted-runner's NewFirejail and NewDocker never check
// requirements, so a program builds the runner, checks it and falls back
// to exec. With firejail, docker and podman off PATH: construction
// succeeds, the check and every run fail with ErrRequirements naming what
// is missing (leaving nothing behind), the fallback runs; New, which
// checks, fails. Once PATH is back, the same runners pass their check and
// run: a failed check is not kept.
func TestConstructThenCheckFallsBackToExec(t *testing.T) {
	ctx := context.Background()
	path := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir())
	image := "localhost/rr-test:latest"
	firejail, err := runner.NewFirejail(runner.Options{"allow_networking": true}, nil)
	if err != nil {
		t.Fatalf("NewFirejail: %v", err)
	}
	docker, err := runner.NewDocker(runner.Options{"image": image, "pull": "never"}, nil)
	if err != nil {
		t.Fatalf("NewDocker: %v", err)
	}
	podman, err := runner.NewDocker(runner.Options{"image": image, "pull": "never", "engine": "podman"}, nil)
	if err != nil {
		t.Fatalf("NewDocker (podman): %v", err)
	}
	for _, tc := range []struct {
		name    string
		r       runner.Runner
		missing string
	}{
		{"firejail", firejail, "firejail program"},
		{"docker", docker, "docker CLI"},
		{"podman", podman, "podman CLI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds := openFds()
			err := tc.r.CheckImplicitRequirements()
			if !errors.Is(err, runner.ErrRequirements) || !strings.Contains(err.Error(), tc.missing) {
				t.Fatalf("check: %v, want ErrRequirements naming %q", err, tc.missing)
			}
			if _, err := tc.r.Run(ctx, "", "echo hi", nil, nil, false); !errors.Is(err, runner.ErrRequirements) {
				t.Errorf("Run: %v", err)
			}
			stdin, stdout, stderr, wait, err := tc.r.RunWithPipes(ctx, "echo", []string{"hi"}, nil, nil)
			if !errors.Is(err, runner.ErrRequirements) || !strings.Contains(err.Error(), tc.missing) {
				t.Errorf("RunWithPipes: %v", err)
			}
			if stdin != nil || stdout != nil || stderr != nil || wait != nil {
				t.Error("outputs set on failure")
			}
			if d := fdDiff(fds, openFds()); d != "" {
				t.Errorf("fds left open:%s", d)
			}

			// The pattern go-restricted-runner's users write.
			var use runner.Runner = tc.r
			if err := tc.r.CheckImplicitRequirements(); err != nil {
				ex, err := runner.NewExec(runner.Options{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				use = ex
			}
			if out, err := use.Run(ctx, "/bin/sh", "echo fallback", nil, nil, false); err != nil || out != "fallback" {
				t.Errorf("fallback: %q, %v", out, err)
			}
		})
	}
	if _, err := runner.New(runner.TypeFirejail, runner.Options{}, nil); !errors.Is(err, runner.ErrRequirements) {
		t.Errorf("New checks requirements: %v", err)
	}

	os.Setenv("PATH", path)
	for _, tc := range []struct {
		kind runner.Type
		r    runner.Runner
	}{{runner.TypeFirejail, firejail}, {runner.TypeDocker, podman}} {
		if _, ok := have(t, tc.kind); !ok {
			continue
		}
		if err := tc.r.CheckImplicitRequirements(); err != nil {
			t.Errorf("%s with PATH back: %v", tc.kind, err)
		}
		if out, err := tc.r.Run(ctx, "", "echo back", nil, nil, false); err != nil || out != "back" {
			t.Errorf("%s with PATH back: %q, %v", tc.kind, out, err)
		}
	}
}

// A runner never checked runs its first command after checking: the check
// is not a step a program must remember.
func TestUncheckedRunnerChecksAtFirstRun(t *testing.T) {
	for _, kind := range []runner.Type{runner.TypeLandrun, runner.TypeDocker} {
		k, ok := have(t, kind)
		if !ok {
			continue
		}
		var r runner.Runner
		var err error
		if kind == runner.TypeLandrun {
			r, err = runner.NewLandrun(k.opts, nil)
		} else {
			r, err = runner.NewDocker(k.opts, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if out, err := r.Run(context.Background(), "", "echo first", nil, nil, false); err != nil || out != "first" {
			t.Errorf("%s: %q, %v", kind, out, err)
		}
	}
}

// go-restricted-runner's NewSandboxExec returns a runner on Linux too;
// only its check (and so New) fails there.
func TestNewSandboxExecOnLinux(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("sandbox-exec exists here")
	}
	r, err := runner.NewSandboxExec(runner.Options{"allow_networking": false}, nil)
	if err != nil || r == nil {
		t.Fatalf("NewSandboxExec: %v, %v", r, err)
	}
	defer r.Close()
	if err := r.CheckImplicitRequirements(); !errors.Is(err, runner.ErrRequirements) || !strings.Contains(err.Error(), "macOS") {
		t.Errorf("check: %v", err)
	}
	if _, err := r.Run(context.Background(), "", "true", nil, nil, false); !errors.Is(err, runner.ErrRequirements) {
		t.Errorf("Run: %v", err)
	}
	if _, err := runner.New(runner.TypeSandboxExec, nil, nil); !errors.Is(err, runner.ErrRequirements) {
		t.Errorf("New: %v", err)
	}
	if _, err := runner.NewSandboxExec(runner.Options{"allow_read_folders": "/tmp"}, nil); !errors.Is(err, runner.ErrInvalidOptions) {
		t.Errorf("bad options are still rejected: %v", err)
	}
}

// The NewXxx constructors return the typed runners, which are Runners
// with Native's methods; New returns a *Native of any kind.
func TestTypedRunners(t *testing.T) {
	ex, err := runner.NewExec(nil, common.GetLogger())
	if err != nil {
		t.Fatal(err)
	}
	fj, _ := runner.NewFirejail(nil, nil)
	lr, _ := runner.NewLandrun(runner.Options{"best_effort": true}, nil)
	sb, _ := runner.NewSandboxExec(nil, nil)
	dk, _ := runner.NewDocker(runner.Options{"image": "alpine:latest"}, nil)
	for want, n := range map[runner.Type]*runner.Native{
		runner.TypeExec: ex.Native, runner.TypeFirejail: fj.Native, runner.TypeLandrun: lr.Native,
		runner.TypeSandboxExec: sb.Native, runner.TypeDocker: dk.Native,
	} {
		if n.Type() != want {
			t.Errorf("%s runner has type %s", want, n.Type())
		}
	}
	var r runner.Runner = ex
	if out, err := r.Run(context.Background(), "", "echo typed", nil, nil, false); err != nil || out != "typed" {
		t.Errorf("%q, %v", out, err)
	}
	for _, c := range []interface{ Close() error }{ex, fj, lr, sb, dk} {
		c.Close()
	}
	if _, err := ex.Run(context.Background(), "", "true", nil, nil, false); !errors.Is(err, runner.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := ex.CheckImplicitRequirements(); !errors.Is(err, runner.ErrClosed) {
		t.Errorf("check after Close: %v", err)
	}
	n, err := runner.New(runner.TypeExec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.(*runner.Native); !ok {
		t.Errorf("New returned %T", n)
	}
	if _, err := runner.NewDocker(runner.Options{}, nil); !errors.Is(err, runner.ErrInvalidOptions) || !strings.Contains(err.Error(), "image") {
		t.Errorf("NewDocker without image: %v", err)
	}
}

func TestShouldUseUnixTimeoutCommand(t *testing.T) {
	if !common.CheckExecutableExists("timeout") {
		t.Skip("no timeout program here")
	}
	if !runner.ShouldUseUnixTimeoutCommand() {
		t.Error("timeout is in PATH")
	}
	t.Setenv("PATH", t.TempDir())
	if runner.ShouldUseUnixTimeoutCommand() {
		t.Error("timeout found with an empty PATH")
	}
}
