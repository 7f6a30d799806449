package runner

/*
#include <stdlib.h>
#include "restricted_runner.h"
*/
import "C"

import (
	"context"
	"io"
	"runtime"
)

// SpawnOptions are per-spawn settings beyond the command itself, passed to
// RunWithPipesOptions. The zero value is what RunWithPipes does.
type SpawnOptions struct {
	// Dir is the folder the command starts in; "" means the caller's
	// current folder. A relative Dir is taken from the caller's current
	// folder at spawn time, and a folder that does not exist is an error
	// (matching ErrSpawn and fs.ErrNotExist) naming it. Under firejail the
	// profile must make it visible, under landrun the command's rules must
	// allow it, and under docker it is a path inside the container (which
	// must be absolute) overriding the "workdir" option.
	Dir string
}

// RunWithPipesOptions is RunWithPipes with per-spawn options (see
// SpawnOptions).
func (n *Native) RunWithPipesOptions(ctx context.Context, cmd string, args []string, env []string, params map[string]interface{}, opts SpawnOptions) (
	stdin io.WriteCloser,
	stdout io.ReadCloser,
	stderr io.ReadCloser,
	wait func() error,
	err error,
) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, nil, err
	}
	pj, err := paramsJSON(params)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkNUL("cmd or Dir", cmd, opts.Dir); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkNUL("an argument", args...); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkNUL("an env entry", env...); err != nil {
		return nil, nil, nil, nil, err
	}

	as, ab := cSize(args, true)
	es, eb := cSize(env, true)
	b := newCBlock(as+es, ab+eb+len(cmd)+1+len(pj)+1+len(opts.Dir)+1)
	defer b.free()
	cmdC := b.str(cmd)
	var paramsC *C.char
	if pj != "" {
		paramsC = b.str(pj)
	}
	argsC := b.array(args)
	envC := b.array(env)

	var attrs *C.rr_spawn_attrs
	var e *C.rr_error
	if opts.Dir != "" {
		if err := takeError(C.rr_spawn_attrs_new(&attrs, &e), e); err != nil {
			return nil, nil, nil, nil, err
		}
		defer C.rr_spawn_attrs_free(attrs)
		if err := takeError(C.rr_spawn_attrs_set_cwd(attrs, b.str(opts.Dir), &e), e); err != nil {
			return nil, nil, nil, nil, err
		}
	}

	var in, out, errFd C.int
	var p *C.rr_process
	n.mu.RLock()
	if n.ptr == nil {
		n.mu.RUnlock()
		return nil, nil, nil, nil, ErrClosed
	}
	rc := C.rr_spawn(n.ptr, cmdC, argsC, envC, paramsC, attrs, &in, &out, &errFd, &p, &e)
	n.mu.RUnlock()
	runtime.KeepAlive(n)
	if err := takeError(rc, e); err != nil {
		n.logger.Debug("starting %q failed: %v", cmd, err)
		return nil, nil, nil, nil, err
	}

	proc := newProcess(ctx, p)
	return pipeFile(in, "|0"), pipeFile(out, "|1"), pipeFile(errFd, "|2"), proc.wait, nil
}
