package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Typed views of each runner's Options, with go-restricted-runner's
// exported fields, JSON tags and defaults, plus fields for the keys this
// library adds (tagged omitempty, so a zero value adds nothing).
//
// The NewXxxOptions functions read Options the way go-restricted-runner's
// did: keys they do not know are ignored. The runners themselves are
// stricter: NewXxx and New reject an unknown key or a value of the wrong
// type with an error matching ErrInvalidOptions. Every JSON tag is a key
// the runner accepts, so a typed value marshalled back to Options (for
// instance with json.Marshal then json.Unmarshal into Options) builds the
// runner it describes.

// ExecOptions are the options of the exec runner.
type ExecOptions struct {
	// Shell is the shell Run uses when it is given none ("": $SHELL, else /bin/sh).
	Shell string `json:"shell"`
}

// FirejailOptions are the options of the firejail runner.
type FirejailOptions struct {
	// Shell is the shell Run uses when it is given none.
	Shell string `json:"shell"`
	// AllowNetworking keeps the host's network; without it the command
	// gets a network namespace with only a loopback.
	AllowNetworking bool `json:"allow_networking"`
	// AllowUserFolders stops blacklisting the user's Documents, Desktop,
	// Downloads, Pictures, Videos and Music.
	AllowUserFolders bool `json:"allow_user_folders"`
	// AllowReadFolders are whitelisted read-only.
	AllowReadFolders []string `json:"allow_read_folders"`
	// AllowWriteFolders are whitelisted read-write.
	AllowWriteFolders []string `json:"allow_write_folders"`
	// AllowReadFiles are whitelisted read-only.
	AllowReadFiles []string `json:"allow_read_files"`
	// AllowWriteFiles are whitelisted read-write.
	AllowWriteFiles []string `json:"allow_write_files"`
	// CustomProfile, when set, is used verbatim as the firejail profile.
	CustomProfile string `json:"custom_profile"`
}

// SandboxExecOptions are the options of the sandbox-exec runner (macOS).
type SandboxExecOptions struct {
	// Shell is the shell Run uses when it is given none.
	Shell string `json:"shell"`
	// AllowNetworking allows network access.
	AllowNetworking bool `json:"allow_networking"`
	// AllowUserFolders allows reading the user's Documents, Desktop,
	// Downloads, Pictures, Movies and Music.
	AllowUserFolders bool `json:"allow_user_folders"`
	// AllowReadFolders may be read.
	AllowReadFolders []string `json:"allow_read_folders"`
	// AllowWriteFolders may be written.
	AllowWriteFolders []string `json:"allow_write_folders"`
	// AllowReadFiles may be read.
	AllowReadFiles []string `json:"allow_read_files"`
	// AllowWriteFiles may be written.
	AllowWriteFiles []string `json:"allow_write_files"`
	// CustomProfile, when set, is used verbatim as the Seatbelt profile.
	CustomProfile string `json:"custom_profile"`
}

// LandrunOptions are the options of the landrun runner (Landlock).
type LandrunOptions struct {
	// AllowReadFolders may be listed and read, not executed from.
	AllowReadFolders []string `json:"allow_read_folders"`
	// AllowReadExecFolders may be listed, read and executed from.
	AllowReadExecFolders []string `json:"allow_read_exec_folders"`
	// AllowWriteFolders may be read and written, not executed from.
	AllowWriteFolders []string `json:"allow_write_folders"`
	// AllowWriteExecFolders allow everything, execution included.
	AllowWriteExecFolders []string `json:"allow_write_exec_folders"`

	// AllowBindTCP are the TCP ports the command may bind when networking is off.
	AllowBindTCP []uint16 `json:"allow_bind_tcp"`
	// AllowConnectTCP are the TCP ports the command may connect to when networking is off.
	AllowConnectTCP []uint16 `json:"allow_connect_tcp"`

	// AllowNetworking leaves the network unrestricted.
	AllowNetworking bool `json:"allow_networking"`
	// UnrestrictedFilesystem leaves the filesystem unrestricted.
	UnrestrictedFilesystem bool `json:"unrestricted_filesystem"`
	// BestEffort applies what the kernel supports instead of failing.
	BestEffort bool `json:"best_effort"`

	// AllowReadFiles may be read (one file each).
	AllowReadFiles []string `json:"allow_read_files,omitempty"`
	// AllowWriteFiles may be read, written and truncated (one file each).
	AllowWriteFiles []string `json:"allow_write_files,omitempty"`
	// IsolateNetwork runs the command in a new, empty network namespace.
	IsolateNetwork bool `json:"isolate_network,omitempty"`
	// MaxMemoryBytes is RLIMIT_AS; 0 leaves it.
	MaxMemoryBytes uint64 `json:"max_memory_bytes,omitempty"`
	// MaxProcesses is RLIMIT_NPROC; 0 leaves it.
	MaxProcesses uint64 `json:"max_processes,omitempty"`
	// MaxOpenFiles is RLIMIT_NOFILE; 0 leaves it.
	MaxOpenFiles uint64 `json:"max_open_files,omitempty"`
	// MaxCPUSeconds is RLIMIT_CPU; 0 leaves it.
	MaxCPUSeconds uint64 `json:"max_cpu_seconds,omitempty"`
}

// DockerOptions are the options of the docker runner.
type DockerOptions struct {
	// Image is the image to run (required).
	Image string `json:"image"`
	// DockerRunOpts are extra `docker run` flags, split with shell-word rules.
	DockerRunOpts string `json:"docker_run_opts"`
	// Mounts are "hostpath:containerpath[:mode]" entries.
	Mounts []string `json:"mounts"`
	// AllowNetworking keeps the engine's network (default true); false
	// means --network=none.
	AllowNetworking bool `json:"allow_networking"`
	// Network is the network to attach to ("host", "bridge", a name).
	Network string `json:"network"`
	// User runs the command as this user in the container.
	User string `json:"user"`
	// WorkDir is the working directory in the container.
	WorkDir string `json:"workdir"`
	// PrepareCommand runs in the container before each command.
	PrepareCommand string `json:"prepare_command"`
	// Memory is the memory limit ("512m", "1g").
	Memory string `json:"memory"`
	// MemoryReservation is the memory soft limit.
	MemoryReservation string `json:"memory_reservation"`
	// MemorySwap is memory plus swap ("-1": unlimited swap).
	MemorySwap string `json:"memory_swap"`
	// MemorySwappiness is 0 to 100; -1 (the default) leaves the engine's.
	MemorySwappiness int `json:"memory_swappiness"`
	// CapAdd are the Linux capabilities to add.
	CapAdd []string `json:"cap_add"`
	// CapDrop are the Linux capabilities to drop.
	CapDrop []string `json:"cap_drop"`
	// DNS are custom DNS servers.
	DNS []string `json:"dns"`
	// DNSSearch are custom DNS search domains.
	DNSSearch []string `json:"dns_search"`
	// Platform selects the image platform ("linux/amd64").
	Platform string `json:"platform"`

	// Engine is "docker" (the default), "podman" or "auto".
	Engine string `json:"engine,omitempty"`
	// Pull is "missing", "never" or "always"; "" leaves the engine's default.
	Pull string `json:"pull,omitempty"`
	// PidsLimit caps the container's processes; 0 leaves it.
	PidsLimit uint64 `json:"pids_limit,omitempty"`
	// CPUs caps the container's CPU share; 0 leaves it.
	CPUs float64 `json:"cpus,omitempty"`
	// ReadOnly makes the container's root filesystem read-only.
	ReadOnly bool `json:"read_only,omitempty"`
}

// decodeOptions fills a typed options struct from options through JSON,
// as encoding/json does: unknown keys are ignored, a value of the wrong
// type is an error.
func decodeOptions(options Options, into interface{}) error {
	b, err := json.Marshal(options)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// NewExecOptions reads the exec runner's options from options.
func NewExecOptions(options Options) (ExecOptions, error) {
	var o ExecOptions
	err := decodeOptions(options, &o)
	return o, err
}

// NewFirejailOptions reads the firejail runner's options from options.
func NewFirejailOptions(options Options) (FirejailOptions, error) {
	var o FirejailOptions
	err := decodeOptions(options, &o)
	return o, err
}

// NewSandboxExecOptions reads the sandbox-exec runner's options from options.
func NewSandboxExecOptions(options Options) (SandboxExecOptions, error) {
	var o SandboxExecOptions
	err := decodeOptions(options, &o)
	return o, err
}

// NewLandrunOptions reads the landrun runner's options from options.
func NewLandrunOptions(options Options) (LandrunOptions, error) {
	var o LandrunOptions
	err := decodeOptions(options, &o)
	return o, err
}

// errDockerImage is NewDockerOptions' error for a missing image, worded
// as go-restricted-runner's.
var errDockerImage = errors.New("docker runner requires 'image' option")

// NewDockerOptions reads the docker runner's options from options, with
// go-restricted-runner's defaults (AllowNetworking true, MemorySwappiness
// -1). A missing (or non-string) "image" is an error; as in
// go-restricted-runner, any other value of the wrong type is skipped. Go
// values such as []string or int are read as their JSON forms.
func NewDockerOptions(options Options) (DockerOptions, error) {
	o := DockerOptions{AllowNetworking: true, MemorySwappiness: -1}
	var m map[string]interface{}
	if err := decodeOptions(options, &m); err != nil {
		return o, err
	}
	image, ok := m["image"].(string)
	if !ok {
		return o, errDockerImage
	}
	o.Image = image
	str := func(key string, dst *string) {
		if v, ok := m[key].(string); ok {
			*dst = v
		}
	}
	list := func(key string, dst *[]string) {
		items, _ := m[key].([]interface{})
		for _, item := range items {
			if s, ok := item.(string); ok {
				*dst = append(*dst, s)
			}
		}
	}
	boolean := func(key string, dst *bool) {
		if v, ok := m[key].(bool); ok {
			*dst = v
		}
	}
	str("docker_run_opts", &o.DockerRunOpts)
	list("mounts", &o.Mounts)
	boolean("allow_networking", &o.AllowNetworking)
	str("network", &o.Network)
	str("user", &o.User)
	str("workdir", &o.WorkDir)
	str("prepare_command", &o.PrepareCommand)
	str("memory", &o.Memory)
	str("memory_reservation", &o.MemoryReservation)
	str("memory_swap", &o.MemorySwap)
	if v, ok := m["memory_swappiness"].(float64); ok {
		o.MemorySwappiness = int(v)
	}
	list("cap_add", &o.CapAdd)
	list("cap_drop", &o.CapDrop)
	list("dns", &o.DNS)
	list("dns_search", &o.DNSSearch)
	str("platform", &o.Platform)
	str("engine", &o.Engine)
	str("pull", &o.Pull)
	if v, ok := m["pids_limit"].(float64); ok && v >= 0 {
		o.PidsLimit = uint64(v)
	}
	if v, ok := m["cpus"].(float64); ok {
		o.CPUs = v
	}
	boolean("read_only", &o.ReadOnly)
	return o, nil
}

// GetBaseDockerCommand renders the start of go-restricted-runner's
// `docker run` command line for these options and env, one flag per item:
// "docker run --rm", the network, user, workdir, memory, capability, DNS
// and platform flags, DockerRunOpts as given, a "-v" per mount and a "-e"
// per env entry (shell-quoted when needed).
//
// It is kept for programs that print or inspect that command line: the
// docker runner does not run it. It runs each command attached in a
// container of its own (`docker run -i --init --name rr-... IMAGE cmd
// args...`), with every argument passed separately, never through a shell.
func (o *DockerOptions) GetBaseDockerCommand(env []string) []string {
	parts := []string{"docker run --rm"}
	flag := func(name, value string) {
		parts = append(parts, name+" "+value)
	}
	if !o.AllowNetworking {
		flag("--network", "none")
	} else if o.Network != "" {
		flag("--network", o.Network)
	}
	for _, f := range []struct{ name, value string }{
		{"--user", o.User},
		{"--workdir", o.WorkDir},
		{"--memory", o.Memory},
		{"--memory-reservation", o.MemoryReservation},
		{"--memory-swap", o.MemorySwap},
	} {
		if f.value != "" {
			flag(f.name, f.value)
		}
	}
	if o.MemorySwappiness != -1 {
		flag("--memory-swappiness", fmt.Sprint(o.MemorySwappiness))
	}
	for _, f := range []struct {
		name   string
		values []string
	}{
		{"--cap-add", o.CapAdd},
		{"--cap-drop", o.CapDrop},
		{"--dns", o.DNS},
		{"--dns-search", o.DNSSearch},
	} {
		for _, v := range f.values {
			flag(f.name, v)
		}
	}
	if o.Platform != "" {
		flag("--platform", o.Platform)
	}
	if o.DockerRunOpts != "" {
		parts = append(parts, o.DockerRunOpts)
	}
	for _, m := range o.Mounts {
		flag("-v", m)
	}
	for _, e := range env {
		flag("-e", shellQuote(e))
	}
	return parts
}

// GetDockerCommand renders go-restricted-runner's command line running
// scriptFile (mounted as /tmp/<its name>) with sh in the image; see
// GetBaseDockerCommand.
func (o *DockerOptions) GetDockerCommand(scriptFile string, env []string) string {
	inContainer := filepath.Join("/tmp", filepath.Base(scriptFile))
	parts := append(o.GetBaseDockerCommand(env), "-v "+scriptFile+":"+inContainer, o.Image, "sh "+inContainer)
	return strings.Join(parts, " ")
}

// GetDirectExecutionCommand renders go-restricted-runner's command line
// running cmd directly in the image; see GetBaseDockerCommand.
func (o *DockerOptions) GetDirectExecutionCommand(cmd string, env []string) string {
	return strings.Join(append(o.GetBaseDockerCommand(env), o.Image, cmd), " ")
}

// shellQuote leaves s as it is when no shell would read anything special
// in it, and otherwise single-quotes it (a ' inside becoming '"'"').
func shellQuote(s string) string {
	if !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}();<>&|") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
