package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/chattoken/chattoken/internal/config"
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode is 2 for a mistake the operator can fix in the command line or
// configuration, 1 for anything else.
func exitCode(err error) int {
	var cfgErr *config.Error
	var useErr *usageError
	if errors.As(err, &cfgErr) || errors.As(err, &useErr) {
		return 2
	}
	return 1
}

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env environment) error
}

// environment is what a command may touch of the outside world; tests pass
// their own.
type environment struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func commands() []command {
	return []command{
		{"serve", "run the token service (the default)", runServe},
		{"dev", "run with an ephemeral key, a demo sign-in and a demo page on 127.0.0.1:8080", runDev},
		{"keygen", "write a new RSA signing key and print its public PEM and kid", runKeygen},
		{"mint", "sign one token with the configured key and schema, for a manual test", runMint},
		{"inspect", "check a token against what Omnichannel requires, one line per check", runInspect},
		{"doctor", "check a live deployment from outside, as Microsoft's servers and the widget reach it", runDoctor},
		{"healthcheck", "exit 0 when the local service answers /healthz, 1 otherwise", runHealthcheck},
		{"version", "print the version", runVersion},
		{"help", "show this list", nil},
	}
}

// run is the whole program: main only adds the process's signals, arguments,
// environment and standard streams. args excludes the program name.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, args, env)
		}
	}
	printUsage(stderr)
	return &usageError{msg: fmt.Sprintf("unknown command %q", name)}
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage: chattoken [command] [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'chattoken COMMAND --help' for a command's flags. Configuration is read from\nCHATTOKEN_* environment variables; docs/configuration.md lists them.\n")
	_, _ = io.WriteString(w, b.String())
}

// parseFlags parses a command's flags and allows at most maxArgs positional
// arguments after them (fs.Args). --help prints the flags to stdout and
// reports helped; any mistake becomes a usageError, after the flags are
// printed to stderr.
func parseFlags(fs *flag.FlagSet, args []string, env environment, maxArgs int) (helped bool, err error) {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: chattoken %s [flags]\n\nFlags:\n", fs.Name())
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		usage(env.stdout)
		return true, nil
	case err != nil:
		usage(env.stderr)
		return false, &usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > maxArgs {
		usage(env.stderr)
		return false, &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(maxArgs))}
	}
	return false, nil
}
