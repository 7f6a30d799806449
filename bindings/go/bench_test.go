package runner_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	runner "github.com/restricted-runner/restricted-runner/bindings/go"
)

// Benchmarks of spawn+wait of `true` with three pipes, the binding's exec
// runner against os/exec (what go-restricted-runner's exec runner uses),
// measured in the same run: the machines are shared, so the two alternate
// in interleaved rounds and each figure is a median over rounds. Both follow
// the documented lifecycle: close stdin, read stdout and stderr to the end,
// wait. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x
//
// RR_BENCH_ROUNDS (rounds, default 15), RR_BENCH_SPAWNS (spawns per round
// of the single-spawn benchmark, default 100) and RR_BENCH_SECONDS (length
// of a throughput round, default 2) tune them.

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type spawner func(ctx context.Context) error

func bindingSpawner(r runner.Runner) spawner {
	return func(ctx context.Context) error {
		stdin, stdout, stderr, wait, err := r.RunWithPipes(ctx, "true", nil, nil, nil)
		if err != nil {
			return err
		}
		stdin.Close()
		io.Copy(io.Discard, stdout)
		io.Copy(io.Discard, stderr)
		stdout.Close()
		stderr.Close()
		return wait()
	}
}

func osExecSpawn(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "true")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	io.Copy(io.Discard, stderr)
	return cmd.Wait()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// interleave runs measure for each variant in every round, alternating
// which goes first, and returns each variant's median.
func interleave(b *testing.B, rounds int, variants []spawner, measure func(spawner) float64) []float64 {
	b.Helper()
	results := make([][]float64, len(variants))
	for r := 0; r < rounds; r++ {
		for i := range variants {
			j := (i + r) % len(variants)
			results[j] = append(results[j], measure(variants[j]))
		}
	}
	medians := make([]float64, len(variants))
	for i, rs := range results {
		medians[i] = median(rs)
	}
	return medians
}

func benchContexts() []struct {
	name string
	ctx  func() (context.Context, context.CancelFunc)
} {
	return []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"cancelable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
	}
}

// BenchmarkSpawnTrue reports microseconds per spawn+wait for the binding
// and os/exec, and their ratio (binding / os/exec; lower is better).
func BenchmarkSpawnTrue(b *testing.B) {
	rounds, spawns := benchEnv("RR_BENCH_ROUNDS", 15), benchEnv("RR_BENCH_SPAWNS", 100)
	for _, tc := range benchContexts() {
		b.Run(tc.name, func(b *testing.B) {
			r, err := runner.NewExec(nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ctx, cancel := tc.ctx()
			defer cancel()
			variants := []spawner{bindingSpawner(r), osExecSpawn}
			for _, v := range variants { // warm up threads, the poller, caches
				for i := 0; i < 20; i++ {
					if err := v(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			us := interleave(b, rounds, variants, func(v spawner) float64 {
				t0 := time.Now()
				for i := 0; i < spawns; i++ {
					if err := v(ctx); err != nil {
						b.Fatal(err)
					}
				}
				return float64(time.Since(t0).Microseconds()) / float64(spawns)
			})
			b.ReportMetric(us[0], "binding-us/spawn")
			b.ReportMetric(us[1], "osexec-us/spawn")
			b.ReportMetric(us[0]/us[1], "ratio")
		})
	}
}

// BenchmarkThroughput8 reports spawns per second with 8 goroutines
// spawning at once, for the binding and os/exec, and their ratio (binding
// / os/exec; higher is better).
func BenchmarkThroughput8(b *testing.B) {
	rounds := benchEnv("RR_BENCH_ROUNDS", 15) / 3
	if rounds < 3 {
		rounds = 3
	}
	seconds := time.Duration(benchEnv("RR_BENCH_SECONDS", 2)) * time.Second
	r, err := runner.NewExec(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	b.ResetTimer()
	perSec := interleave(b, rounds, []spawner{bindingSpawner(r), osExecSpawn}, func(v spawner) float64 {
		var n atomic.Int64
		deadline := time.Now().Add(seconds)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if err := v(ctx); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / seconds.Seconds()
	})
	b.ReportMetric(perSec[0], "binding-spawns/s")
	b.ReportMetric(perSec[1], "osexec-spawns/s")
	b.ReportMetric(perSec[0]/perSec[1], "ratio")
}
