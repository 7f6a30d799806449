package runner

// The library is linked statically from the cargo build of the repository
// this module lives in, so binaries need no LD_LIBRARY_PATH: run
// `cargo build --release` at the repository root first (see README.md).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo linux LDFLAGS: ${SRCDIR}/../../target/release/librestricted_runner.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#cgo darwin LDFLAGS: ${SRCDIR}/../../target/release/librestricted_runner.a -framework CoreFoundation -framework Security -liconv -lc -lm
#include <stdlib.h>
#include "restricted_runner.h"
*/
import "C"

import (
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// takeError turns a failed status and its rr_error into an *Error, and
// frees the rr_error.
func takeError(rc C.rr_status, e *C.rr_error) error {
	if rc == C.RR_OK {
		return nil
	}
	err := &Error{Code: Status(rc)}
	if e != nil {
		err.Message = C.GoString(C.rr_error_message(e))
		err.Errno = syscall.Errno(C.rr_error_os_code(e))
		C.rr_error_free(e)
	}
	if err.Message == "" {
		err.Message = "restricted-runner: status " + strconv.Itoa(int(rc))
	}
	return err
}

// cBlock holds C strings and NULL-terminated string arrays in one malloc'd
// block, so a call costs one allocation however many arguments it passes.
type cBlock struct {
	base unsafe.Pointer
	ptrs []*C.char // the pointer area
	data []byte    // the string area
	np   int
	nd   int
}

// cSize is what strs needs in a block: pointer slots (with the NULL
// terminator when array is true) and bytes.
func cSize(strs []string, array bool) (slots, bytes int) {
	for _, s := range strs {
		bytes += len(s) + 1
	}
	slots = len(strs)
	if array && len(strs) > 0 {
		slots++
	}
	return slots, bytes
}

func newCBlock(slots, bytes int) *cBlock {
	ptrSize := int(unsafe.Sizeof((*C.char)(nil)))
	total := slots*ptrSize + bytes
	if total == 0 {
		return &cBlock{}
	}
	base := C.malloc(C.size_t(total))
	b := &cBlock{base: base}
	if slots > 0 {
		b.ptrs = unsafe.Slice((**C.char)(base), slots)
	}
	b.data = unsafe.Slice((*byte)(unsafe.Add(base, slots*ptrSize)), bytes)
	return b
}

// str copies s into the block as a NUL-terminated string.
func (b *cBlock) str(s string) *C.char {
	p := &b.data[b.nd]
	copy(b.data[b.nd:], s)
	b.data[b.nd+len(s)] = 0
	b.nd += len(s) + 1
	return (*C.char)(unsafe.Pointer(p))
}

// array copies strs into the block as a NULL-terminated array; nil for none.
func (b *cBlock) array(strs []string) **C.char {
	if len(strs) == 0 {
		return nil
	}
	first := &b.ptrs[b.np]
	for _, s := range strs {
		b.ptrs[b.np] = b.str(s)
		b.np++
	}
	b.ptrs[b.np] = nil
	b.np++
	return first
}

func (b *cBlock) free() {
	if b.base != nil {
		C.free(b.base)
		b.base = nil
	}
}

// checkNUL rejects strings C would silently cut at an embedded NUL.
func checkNUL(what string, strs ...string) error {
	for _, s := range strs {
		if strings.IndexByte(s, 0) >= 0 {
			return &Error{Code: StatusInvalidArgument, Message: "invalid argument: " + what + " contains a NUL byte"}
		}
	}
	return nil
}

// Version is the version of the linked C library, "MAJOR.MINOR.PATCH".
func Version() string {
	return C.GoString(C.rr_version())
}
