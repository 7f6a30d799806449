package runner_test

import (
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

func spawnBinding(b *testing.B, r runner.Runner, ctx context.Context) {
	stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, "true", nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	stdout.Close()
	stderr.Close()
	if err := wait(); err != nil {
		b.Fatal(err)
	}
}

// spawnOSExec is what go-restricted-runner's exec runner does: os/exec
// with three pipes.
func spawnOSExec(b *testing.B, ctx context.Context) {
	cmd := exec.CommandContext(ctx, "true")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSpawnTrue times RunWithPipes + wait of `true` through the
// binding and through os/exec with three pipes, alternating in the same
// loop so both see the same machine load, and reports each one's ns/op
// and their ratio (binding / os/exec; lower is better).
func BenchmarkSpawnTrue(b *testing.B) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"cancelable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := runner.NewNative(runner.TypeExec, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ctx, cancel := tc.ctx()
			defer cancel()
			var binding, osexec time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				spawnBinding(b, r, ctx)
				t1 := time.Now()
				spawnOSExec(b, ctx)
				osexec += time.Since(t1)
				binding += t1.Sub(t0)
			}
			b.ReportMetric(float64(binding.Nanoseconds())/float64(b.N), "binding-ns/op")
			b.ReportMetric(float64(osexec.Nanoseconds())/float64(b.N), "osexec-ns/op")
			b.ReportMetric(float64(binding)/float64(osexec), "ratio")
		})
	}
}
