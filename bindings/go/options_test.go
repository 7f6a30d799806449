package runner_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// toOptions is what a program does to turn a typed value back into
// Options: marshal it, unmarshal into the map.
func toOptions(t *testing.T, v interface{}) runner.Options {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var o runner.Options
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// Each NewXxxOptions reads every key into its field, leaves the defaults
// of go-restricted-runner where a key is absent, and the typed value
// marshalled back builds the runner it describes (every JSON tag is a key
// the strict runner accepts) and reads back equal.
func TestTypedOptionsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/f"
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind     runner.Type
		options  runner.Options
		want     interface{}
		defaults interface{}
		parse    func(runner.Options) (interface{}, error)
		build    func(runner.Options) (runner.Runner, error)
	}{
		{
			kind:     runner.TypeExec,
			options:  runner.Options{"shell": "/bin/bash"},
			want:     runner.ExecOptions{Shell: "/bin/bash"},
			defaults: runner.ExecOptions{},
			parse:    func(o runner.Options) (interface{}, error) { return runner.NewExecOptions(o) },
			build:    func(o runner.Options) (runner.Runner, error) { return runner.NewExec(o, nil) },
		},
		{
			kind: runner.TypeFirejail,
			options: runner.Options{
				"shell": "/bin/sh", "allow_networking": true, "allow_user_folders": true,
				"allow_read_folders": []string{dir}, "allow_write_folders": []string{dir + "/{{ .out }}"},
				"allow_read_files": []string{file}, "allow_write_files": []string{file},
				"custom_profile": "seccomp\n",
			},
			want: runner.FirejailOptions{
				Shell: "/bin/sh", AllowNetworking: true, AllowUserFolders: true,
				AllowReadFolders: []string{dir}, AllowWriteFolders: []string{dir + "/{{ .out }}"},
				AllowReadFiles: []string{file}, AllowWriteFiles: []string{file},
				CustomProfile: "seccomp\n",
			},
			defaults: runner.FirejailOptions{},
			parse:    func(o runner.Options) (interface{}, error) { return runner.NewFirejailOptions(o) },
			build:    func(o runner.Options) (runner.Runner, error) { return runner.NewFirejail(o, nil) },
		},
		{
			kind: runner.TypeSandboxExec,
			options: runner.Options{
				"shell": "/bin/zsh", "allow_networking": true, "allow_user_folders": true,
				"allow_read_folders": []string{"/usr"}, "allow_write_folders": []string{"/tmp/{{ .out }}"},
				"allow_read_files": []string{"/etc/hosts"}, "allow_write_files": []string{"/tmp/log"},
				"custom_profile": "(version 1)",
			},
			want: runner.SandboxExecOptions{
				Shell: "/bin/zsh", AllowNetworking: true, AllowUserFolders: true,
				AllowReadFolders: []string{"/usr"}, AllowWriteFolders: []string{"/tmp/{{ .out }}"},
				AllowReadFiles: []string{"/etc/hosts"}, AllowWriteFiles: []string{"/tmp/log"},
				CustomProfile: "(version 1)",
			},
			defaults: runner.SandboxExecOptions{},
			parse:    func(o runner.Options) (interface{}, error) { return runner.NewSandboxExecOptions(o) },
			build:    func(o runner.Options) (runner.Runner, error) { return runner.NewSandboxExec(o, nil) },
		},
		{
			kind: runner.TypeLandrun,
			options: runner.Options{
				"allow_read_folders": []string{dir}, "allow_read_exec_folders": []string{"/usr"},
				"allow_write_folders": []string{dir}, "allow_write_exec_folders": []string{dir + "/{{ .x }}"},
				"allow_bind_tcp": []uint16{8080}, "allow_connect_tcp": []int{80, 443},
				"allow_networking": false, "unrestricted_filesystem": true, "best_effort": true,
				"allow_read_files": []string{file}, "allow_write_files": []string{file},
				"isolate_network": true, "max_memory_bytes": 1 << 30, "max_processes": 64,
				"max_open_files": 256, "max_cpu_seconds": 10,
			},
			want: runner.LandrunOptions{
				AllowReadFolders: []string{dir}, AllowReadExecFolders: []string{"/usr"},
				AllowWriteFolders: []string{dir}, AllowWriteExecFolders: []string{dir + "/{{ .x }}"},
				AllowBindTCP: []uint16{8080}, AllowConnectTCP: []uint16{80, 443},
				UnrestrictedFilesystem: true, BestEffort: true,
				AllowReadFiles: []string{file}, AllowWriteFiles: []string{file},
				IsolateNetwork: true, MaxMemoryBytes: 1 << 30, MaxProcesses: 64,
				MaxOpenFiles: 256, MaxCPUSeconds: 10,
			},
			defaults: runner.LandrunOptions{},
			parse:    func(o runner.Options) (interface{}, error) { return runner.NewLandrunOptions(o) },
			build:    func(o runner.Options) (runner.Runner, error) { return runner.NewLandrun(o, nil) },
		},
		{
			kind: runner.TypeDocker,
			options: runner.Options{
				"image": "localhost/rr-test:latest", "docker_run_opts": "--label a=b",
				"mounts": []string{dir + ":/data:ro"}, "allow_networking": true, "network": "bridge",
				"user": "nobody", "workdir": "/data", "prepare_command": "cd /data",
				"memory": "512m", "memory_reservation": "256m", "memory_swap": "1g",
				"memory_swappiness": 10, "cap_add": []string{"NET_ADMIN"}, "cap_drop": []string{"ALL"},
				"dns": []string{"10.0.0.1"}, "dns_search": []string{"example.test"},
				"platform": "linux/amd64", "engine": "podman", "pull": "never",
				"pids_limit": 64, "cpus": 1.5, "read_only": true,
			},
			want: runner.DockerOptions{
				Image: "localhost/rr-test:latest", DockerRunOpts: "--label a=b",
				Mounts: []string{dir + ":/data:ro"}, AllowNetworking: true, Network: "bridge",
				User: "nobody", WorkDir: "/data", PrepareCommand: "cd /data",
				Memory: "512m", MemoryReservation: "256m", MemorySwap: "1g",
				MemorySwappiness: 10, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"},
				DNS: []string{"10.0.0.1"}, DNSSearch: []string{"example.test"},
				Platform: "linux/amd64", Engine: "podman", Pull: "never",
				PidsLimit: 64, CPUs: 1.5, ReadOnly: true,
			},
			defaults: runner.DockerOptions{Image: "x", AllowNetworking: true, MemorySwappiness: -1},
			parse:    func(o runner.Options) (interface{}, error) { return runner.NewDockerOptions(o) },
			build:    func(o runner.Options) (runner.Runner, error) { return runner.NewDocker(o, nil) },
		},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			got, err := tc.parse(tc.options)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parsed\n%+v\nwant\n%+v", got, tc.want)
			}
			// Every key is one the strict runner knows, with its type.
			if _, err := tc.build(tc.options); err != nil {
				t.Fatalf("the runner rejects the options: %v", err)
			}
			back := toOptions(t, got)
			if _, err := tc.build(back); err != nil {
				t.Fatalf("the runner rejects the typed options marshalled back (%v): %v", back, err)
			}
			again, err := tc.parse(back)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("read back %+v, %v", again, err)
			}
			minimal := runner.Options{}
			if tc.kind == runner.TypeDocker {
				minimal["image"] = "x"
			}
			def, err := tc.parse(minimal)
			if err != nil || !reflect.DeepEqual(def, tc.defaults) {
				t.Fatalf("defaults %+v, %v; want %+v", def, err, tc.defaults)
			}
			if _, err := tc.build(toOptions(t, def)); err != nil {
				t.Fatalf("the runner rejects the defaults marshalled back: %v", err)
			}
		})
	}
}

// NewXxxOptions read Options as go-restricted-runner did: unknown keys are
// ignored there (the runners reject them), a wrong type fails through
// encoding/json, and the docker options skip values of the wrong type but
// require the image.
func TestTypedOptionsLeniency(t *testing.T) {
	got, err := runner.NewExecOptions(runner.Options{"shell": "/bin/zsh", "extra": "value"})
	if err != nil || got.Shell != "/bin/zsh" {
		t.Errorf("unknown key: %+v, %v", got, err)
	}
	if _, err := runner.NewExec(runner.Options{"shell": "/bin/zsh", "extra": "value"}, nil); !errors.Is(err, runner.ErrInvalidOptions) {
		t.Errorf("NewExec accepted an unknown key: %v", err)
	}
	if _, err := runner.NewFirejailOptions(runner.Options{"allow_read_folders": "/not/a/list"}); err == nil {
		t.Error("firejail: a string for a list was accepted")
	}
	if _, err := runner.NewLandrunOptions(runner.Options{"allow_bind_tcp": []int{70000}}); err == nil {
		t.Error("landrun: port 70000 was accepted")
	}
	_, err = runner.NewDockerOptions(runner.Options{})
	if err == nil || err.Error() != "docker runner requires 'image' option" {
		t.Errorf("docker without image: %v", err)
	}
	d, err := runner.NewDockerOptions(runner.Options{"image": "i", "user": 7, "mounts": []interface{}{"/a:/b", 3}, "memory_swappiness": "x"})
	if err != nil || d.User != "" || !reflect.DeepEqual(d.Mounts, []string{"/a:/b"}) || d.MemorySwappiness != -1 {
		t.Errorf("docker wrong types: %+v, %v", d, err)
	}
	if _, err := runner.NewDockerOptions(runner.Options{"image": make(chan int)}); err == nil {
		t.Error("an unmarshalable value was accepted")
	}
}

// The docker command-line helpers render go-restricted-runner's command
// strings, flag for flag.
func TestDockerCommandLines(t *testing.T) {
	o, err := runner.NewDockerOptions(runner.Options{"image": "alpine:latest"})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.GetDirectExecutionCommand("ls", nil); got != "docker run --rm alpine:latest ls" {
		t.Errorf("minimal: %q", got)
	}
	o, err = runner.NewDockerOptions(runner.Options{
		"image": "alpine:latest", "allow_networking": false, "network": "host", "user": "nobody",
		"workdir": "/app", "memory": "512m", "memory_reservation": "256m", "memory_swap": "1g",
		"memory_swappiness": 0, "cap_add": []string{"SYS_ADMIN", "NET_RAW"}, "cap_drop": []string{"ALL"},
		"dns": []string{"8.8.8.8"}, "dns_search": []string{"example.com"}, "platform": "linux/amd64",
		"docker_run_opts": "--cpus 0.5", "mounts": []string{"/host:/container", "/tmp:/tmp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"A=1", "B=two words", "C=it's"}
	base := []string{
		"docker run --rm", "--network none", "--user nobody", "--workdir /app", "--memory 512m",
		"--memory-reservation 256m", "--memory-swap 1g", "--memory-swappiness 0",
		"--cap-add SYS_ADMIN", "--cap-add NET_RAW", "--cap-drop ALL", "--dns 8.8.8.8",
		"--dns-search example.com", "--platform linux/amd64", "--cpus 0.5",
		"-v /host:/container", "-v /tmp:/tmp", "-e A=1", "-e 'B=two words'", `-e 'C=it'"'"'s'`,
	}
	if got := o.GetBaseDockerCommand(env); !reflect.DeepEqual(got, base) {
		t.Errorf("base:\n%q\nwant\n%q", got, base)
	}
	want := strings.Join(base, " ") + " -v /tmp/x/script.sh:/tmp/script.sh alpine:latest sh /tmp/script.sh"
	if got := o.GetDockerCommand("/tmp/x/script.sh", env); got != want {
		t.Errorf("script:\n%q\nwant\n%q", got, want)
	}
	want = strings.Join(base, " ") + " alpine:latest /bin/ls"
	if got := o.GetDirectExecutionCommand("/bin/ls", env); got != want {
		t.Errorf("direct:\n%q\nwant\n%q", got, want)
	}
	o.AllowNetworking = true
	if got := o.GetBaseDockerCommand(nil)[1]; got != "--network host" {
		t.Errorf("network: %q", got)
	}
}
