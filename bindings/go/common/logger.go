// Package common holds the small logger type that runner.New accepts, with
// the constructor names of go-restricted-runner's common package, so code
// written against that package keeps compiling after an import switch.
package common

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync"
)

// LogLevel orders messages by importance; a logger prints its level and above.
type LogLevel int

// Levels, lowest first.
const (
	LogLevelDebug LogLevel = iota
	LogLevelInfo
	LogLevelWarn
	LogLevelError
	LogLevelNone
)

// Logger writes leveled, printf-style messages. The zero value discards
// everything; a nil *Logger is also safe to call.
type Logger struct {
	level LogLevel
	out   *log.Logger
	file  io.Closer
}

// NewLogger returns a logger printing messages at `level` and above, each
// line starting with prefix, to the file at filePath (appended, or
// truncated first when truncate is true), or to stderr when filePath is empty.
func NewLogger(prefix, filePath string, level LogLevel, truncate bool) (*Logger, error) {
	var w io.Writer = os.Stderr
	var closer io.Closer
	if filePath != "" {
		flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
		if truncate {
			flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		}
		f, err := os.OpenFile(filePath, flags, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening log file: %w", err)
		}
		w, closer = f, f
	}
	return &Logger{level: level, out: log.New(w, prefix, log.LstdFlags), file: closer}, nil
}

var (
	globalOnce sync.Once
	global     *Logger
)

// GetLogger returns the process-wide default logger (errors only, to stderr).
func GetLogger() *Logger {
	globalOnce.Do(func() {
		global = &Logger{level: LogLevelError, out: log.New(os.Stderr, "", log.LstdFlags)}
	})
	return global
}

func (l *Logger) logf(level LogLevel, tag, format string, args ...interface{}) {
	if l == nil || l.out == nil || level < l.level {
		return
	}
	l.out.Printf(tag+format, args...)
}

// Debug logs a debug message.
func (l *Logger) Debug(format string, args ...interface{}) {
	l.logf(LogLevelDebug, "[DEBUG] ", format, args...)
}

// Info logs an informational message.
func (l *Logger) Info(format string, args ...interface{}) {
	l.logf(LogLevelInfo, "[INFO] ", format, args...)
}

// Warn logs a warning.
func (l *Logger) Warn(format string, args ...interface{}) {
	l.logf(LogLevelWarn, "[WARN] ", format, args...)
}

// Error logs an error.
func (l *Logger) Error(format string, args ...interface{}) {
	l.logf(LogLevelError, "[ERROR] ", format, args...)
}

// Close closes the log file, if the logger has one.
func (l *Logger) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	return l.file.Close()
}
