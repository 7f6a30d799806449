// Package runner runs commands in restricted environments through the
// restricted-runner C library. It is go-restricted-runner's runner package
// over that library: the same Type names, option keys, Runner interface,
// New and NewXxx constructors, runner types and typed options, so a
// program switches by changing its import path (and that of the common
// package, this module's common subpackage).
//
// What differs (docs/migrating-from-go-restricted-runner.md has the whole
// list): option keys are checked strictly (an unknown key or a wrong type
// is an error naming the key, matching ErrInvalidOptions), cancelling the
// context kills the whole process tree (grandchildren and containers
// included), wait removes every profile file and container the spawn
// created, and errors are *Error, *ExitError and *RunError values.
package runner

import (
	"context"
	"encoding/json"
	"io"
	"reflect"

	"github.com/restricted-runner/restricted-runner/bindings/go/common"
)

// Type names a kind of runner.
type Type string

// The runner kinds. Each has implicit requirements (an OS, a binary, a
// kernel feature, an engine) that New and CheckImplicitRequirements check.
const (
	// TypeExec runs commands directly, without isolation.
	TypeExec Type = "exec"
	// TypeSandboxExec uses macOS sandbox-exec (Seatbelt profiles).
	TypeSandboxExec Type = "sandbox-exec"
	// TypeFirejail uses firejail on Linux.
	TypeFirejail Type = "firejail"
	// TypeLandrun applies Linux Landlock rules to the child ("landlock" is an alias).
	TypeLandrun Type = "landrun"
	// TypeDocker runs each command in a container of the docker or podman engine.
	TypeDocker Type = "docker"
)

// Options configures a runner; the keys are those of go-restricted-runner.
type Options map[string]interface{}

// ToJSON converts the options to a JSON string.
func (o Options) ToJSON() (string, error) {
	b, err := json.Marshal(o)
	return string(b), err
}

// Logger receives debug messages. This module's *common.Logger satisfies
// it (as does go-restricted-runner's); nil means common.GetLogger().
type Logger interface {
	Debug(format string, args ...interface{})
}

// Runner runs commands in an isolated environment.
type Runner interface {
	// Run executes `shell -c command` (shell "" means the runner's `shell`
	// option, else $SHELL, else /bin/sh; /bin/sh in a container) and
	// returns its trimmed stdout. A command that fails returns a *RunError
	// whose message is its trimmed stderr. env entries are KEY=VALUE added
	// to the inherited environment; params fill the `{{ .name }}`
	// placeholders of the runner's options for this call. tmpfile is
	// accepted for compatibility and has no effect: the command is always
	// passed to the shell with -c. Cancelling ctx kills the whole process
	// tree and returns an error matching ctx.Err().
	Run(ctx context.Context, shell string, command string, env []string, params map[string]interface{}, tmpfile bool) (string, error)

	// RunWithPipes starts cmd with args (no shell) and returns its stdin,
	// stdout and stderr (each an *os.File) and a wait function that must be
	// called once the output was read: it reaps the process, kills what is
	// left of its tree, removes what the spawn created and returns an
	// *ExitError for a non-zero exit. Cancelling ctx kills the whole process
	// tree; wait then returns an error matching ctx.Err(). Close stdin to
	// send EOF; close stdout and stderr when done with them.
	RunWithPipes(ctx context.Context, cmd string, args []string, env []string, params map[string]interface{}) (
		stdin io.WriteCloser,
		stdout io.ReadCloser,
		stderr io.ReadCloser,
		wait func() error,
		err error,
	)

	// CheckImplicitRequirements checks again that what the runner needs is
	// on this machine; an error matches ErrRequirements and says what is missing.
	CheckImplicitRequirements() error
}

// New creates a runner of runnerType configured by options and checks its
// implicit requirements, as go-restricted-runner's New does. Errors match
// ErrUnknownRunner, ErrInvalidOptions or ErrRequirements, with a message
// naming the problem. The result is a *Native (whichever the type), safe
// for concurrent use; its Close frees it early (otherwise the garbage
// collector does). The NewXxx constructors return the typed runners
// (*Exec, *Firejail, ...) and leave the requirements to
// CheckImplicitRequirements and the first run. A nil logger means
// common.GetLogger().
func New(runnerType Type, options Options, logger Logger) (Runner, error) {
	n, err := NewNative(runnerType, options, logger)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// normalizeLogger replaces a nil logger, including a typed nil pointer (a
// nil *common.Logger passed as Logger), by common.GetLogger(), as
// go-restricted-runner does.
func normalizeLogger(l Logger) Logger {
	if l == nil {
		return common.GetLogger()
	}
	if v := reflect.ValueOf(l); v.Kind() == reflect.Ptr && v.IsNil() {
		return common.GetLogger()
	}
	return l
}
