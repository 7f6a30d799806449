// Package common is go-restricted-runner's common package over this
// module: the leveled Logger that runner.New accepts, the requirement
// helpers and the template helpers, with the same names, values and
// behaviour, so code written against that package keeps compiling and
// behaving the same after an import switch.
package common

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync/atomic"
)

// LogLevel is a logging verbosity. A logger prints the messages of its
// level and of the levels below it: LogLevelInfo prints info, warnings and
// errors.
type LogLevel int

// The levels, with go-restricted-runner's numeric values, so a level
// stored as a number, or compared with >=, means the same.
const (
	// LogLevelNone disables logging.
	LogLevelNone LogLevel = iota
	// LogLevelError logs only errors.
	LogLevelError
	// LogLevelInfo logs information, warnings and errors.
	LogLevelInfo
	// LogLevelDebug logs everything, debug messages included.
	LogLevelDebug
)

// LogLevelFromString converts "debug", "info", "error" or "none" to a
// LogLevel; anything else is LogLevelInfo.
func LogLevelFromString(level string) LogLevel {
	switch level {
	case "debug":
		return LogLevelDebug
	case "info":
		return LogLevelInfo
	case "error":
		return LogLevelError
	case "none":
		return LogLevelNone
	default:
		return LogLevelInfo
	}
}

// Logger is a leveled logger over the standard library's *log.Logger,
// which it embeds (so Printf, SetOutput, SetFlags, SetPrefix... work). Its
// methods are safe for concurrent use, SetLevel included. A nil *Logger
// logs nothing.
type Logger struct {
	// The underlying Go logger.
	*log.Logger
	level    atomic.Int64
	filePath string
	file     *os.File
}

// NewLogger creates a logger whose lines start with prefix and carry the
// date, time and source file (log.Ldate|log.Ltime|log.Lshortfile). It
// writes to stderr and, when filePath is not empty, also to that file
// (truncated first when truncate is true, else appended to; created with
// mode 0666 less the umask). With LogLevelNone it writes nothing and opens
// no file.
func NewLogger(prefix string, filePath string, level LogLevel, truncate bool) (*Logger, error) {
	var writer io.Writer = os.Stderr
	if level == LogLevelNone {
		writer = io.Discard
	}
	var file *os.File
	if filePath != "" && level != LogLevelNone {
		flags := os.O_RDWR | os.O_CREATE
		if truncate {
			flags |= os.O_TRUNC
		} else {
			flags |= os.O_APPEND
		}
		var err error
		file, err = os.OpenFile(filePath, flags, 0o666)
		if err != nil {
			return nil, fmt.Errorf("failed to open log file: %w", err)
		}
		writer = io.MultiWriter(os.Stderr, file)
	}
	l := &Logger{
		Logger:   log.New(writer, prefix, log.Ldate|log.Ltime|log.Lshortfile),
		filePath: filePath,
		file:     file,
	}
	l.level.Store(int64(level))
	if filePath != "" && level >= LogLevelInfo {
		l.Debug("----------------------------")
		l.Debug("Logging initialized to file: %s", filePath)
	}
	return l, nil
}

// Close closes the log file, if the logger has one.
func (l *Logger) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	return l.file.Close()
}

func (l *Logger) enabled(level LogLevel) bool {
	return l != nil && l.Logger != nil && LogLevel(l.level.Load()) >= level
}

// Debug logs a message at LogLevelDebug, tagged "[DEBUG] ".
func (l *Logger) Debug(format string, v ...interface{}) {
	if l.enabled(LogLevelDebug) {
		l.Printf("[DEBUG] "+format, v...)
	}
}

// Info logs a message at LogLevelInfo, tagged "[INFO] ".
func (l *Logger) Info(format string, v ...interface{}) {
	if l.enabled(LogLevelInfo) {
		l.Printf("[INFO] "+format, v...)
	}
}

// Warn logs a warning, tagged "[WARN] ", from LogLevelInfo up (there is no
// separate warning level).
func (l *Logger) Warn(format string, v ...interface{}) {
	if l.enabled(LogLevelInfo) {
		l.Printf("[WARN] "+format, v...)
	}
}

// Error logs a message at LogLevelError, tagged "[ERROR] ".
func (l *Logger) Error(format string, v ...interface{}) {
	if l.enabled(LogLevelError) {
		l.Printf("[ERROR] "+format, v...)
	}
}

// FilePath is the log file's path, "" when the logger has no file.
func (l *Logger) FilePath() string {
	if l == nil {
		return ""
	}
	return l.filePath
}

// Level is the logger's current level.
func (l *Logger) Level() LogLevel {
	if l == nil {
		return LogLevelNone
	}
	return LogLevel(l.level.Load())
}

// SetLevel changes the logger's level.
func (l *Logger) SetLevel(level LogLevel) {
	l.level.Store(int64(level))
}

var globalLogger atomic.Pointer[Logger]

// GetLogger returns the logger set with SetLogger or, while none is set, a
// new logger writing to stderr at LogLevelInfo with the "[mcpshell] "
// prefix, as go-restricted-runner does. Runners given a nil logger use it.
func GetLogger() *Logger {
	if l := globalLogger.Load(); l != nil {
		return l
	}
	l, _ := NewLogger("[mcpshell] ", "", LogLevelInfo, false)
	return l
}

// SetLogger sets the logger GetLogger returns; nil restores the default.
func SetLogger(logger *Logger) {
	globalLogger.Store(logger)
}
