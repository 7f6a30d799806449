package runner

import "github.com/restricted-runner/restricted-runner/bindings/go/common"

// The runner types that go-restricted-runner's NewXxx constructors return.
// Each is a *Native of its kind (its methods are Native's), built without
// checking the runner's requirements: construction succeeds wherever the
// options are valid, CheckImplicitRequirements reports what is missing,
// and until a check passed every Run or RunWithPipes checks first (and
// fails with ErrRequirements while something is missing). So the usual
// "build, check, else fall back to exec" works as it did:
//
//	r, err := runner.NewFirejail(opts, logger)
//	if err != nil {
//		return err // invalid options
//	}
//	if err := r.CheckImplicitRequirements(); err != nil {
//		ex, _ := runner.NewExec(nil, logger)
//		return use(ex)
//	}
//	return use(r)
type (
	// Exec runs commands directly on the host, without isolation.
	Exec struct{ *Native }
	// Firejail runs each command in a firejail sandbox (Linux).
	Firejail struct{ *Native }
	// SandboxExec runs each command under a macOS Seatbelt profile.
	SandboxExec struct{ *Native }
	// Landrun applies Landlock rules, resource limits and optionally an
	// empty network namespace to each command (Linux).
	Landrun struct{ *Native }
	// Docker runs each command in its own container (docker or podman).
	Docker struct{ *Native }
)

var (
	_ Runner = (*Exec)(nil)
	_ Runner = (*Firejail)(nil)
	_ Runner = (*SandboxExec)(nil)
	_ Runner = (*Landrun)(nil)
	_ Runner = (*Docker)(nil)
)

// NewExec creates an exec runner. Options are checked strictly (an unknown
// key or a wrong type is an error matching ErrInvalidOptions). A nil
// logger means common.GetLogger().
func NewExec(options Options, logger Logger) (*Exec, error) {
	n, err := newNative(TypeExec, options, logger, false)
	if err != nil {
		return nil, err
	}
	return &Exec{n}, nil
}

// NewFirejail creates a firejail runner without checking that firejail is
// installed: CheckImplicitRequirements, and the first Run or RunWithPipes,
// report it. Options are checked strictly; a nil logger means
// common.GetLogger().
func NewFirejail(options Options, logger Logger) (*Firejail, error) {
	n, err := newNative(TypeFirejail, options, logger, false)
	if err != nil {
		return nil, err
	}
	return &Firejail{n}, nil
}

// NewSandboxExec creates a sandbox-exec runner; it is built on every
// system, and on any but macOS CheckImplicitRequirements (and every run)
// fails with ErrRequirements. Options are checked strictly; a nil logger
// means common.GetLogger().
func NewSandboxExec(options Options, logger Logger) (*SandboxExec, error) {
	n, err := newNative(TypeSandboxExec, options, logger, false)
	if err != nil {
		return nil, err
	}
	return &SandboxExec{n}, nil
}

// NewLandrun creates a landrun runner without checking that the kernel has
// Landlock: CheckImplicitRequirements, and the first Run or RunWithPipes,
// report it. Options are checked strictly; a nil logger means
// common.GetLogger().
func NewLandrun(options Options, logger Logger) (*Landrun, error) {
	n, err := newNative(TypeLandrun, options, logger, false)
	if err != nil {
		return nil, err
	}
	return &Landrun{n}, nil
}

// NewDocker creates a docker runner without asking the engine anything:
// CheckImplicitRequirements, and the first Run or RunWithPipes, find the
// CLI and check that its engine answers (and, with "pull": "never", that
// the image is there). The "image" option is required. Options are
// checked strictly; a nil logger means common.GetLogger().
func NewDocker(options Options, logger Logger) (*Docker, error) {
	n, err := newNative(TypeDocker, options, logger, false)
	if err != nil {
		return nil, err
	}
	return &Docker{n}, nil
}

// ShouldUseUnixTimeoutCommand reports whether the `timeout` program is in
// PATH.
func ShouldUseUnixTimeoutCommand() bool {
	return common.CheckExecutableExists("timeout")
}
