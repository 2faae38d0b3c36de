package main

import (
	"context"
	"errors"
	"flag"

	"github.com/chattoken/chattoken/internal/doctor"
)

// runDoctor checks a live deployment from outside, as Microsoft's servers
// and the widget reach it, and says what to enter in Omnichannel. It exits
// 1 when a check fails; warnings leave it 0.
func runDoctor(ctx context.Context, args []string, env environment) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	var opts doctor.Options
	fs.StringVar(&opts.Cookie, "cookie", "", "the Cookie header of a signed-in visitor (name=value; ...), to check a real token")
	fs.StringVar(&opts.Bearer, "bearer", "", "an access token of a signed-in visitor (jwt mode), to check a real token")
	fs.StringVar(&opts.Origin, "origin", "", "the origin of the page that embeds the widget, when it is not the service's")
	fs.StringVar(&opts.CAFile, "cacert", "", "a PEM file of certificate authorities to trust besides the system's (SSL_CERT_FILE replaces those)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if helped, err := parseFlags(fs, args, env, 1); helped || err != nil {
		return err
	}
	if opts.BaseURL = fs.Arg(0); opts.BaseURL == "" {
		return &usageError{msg: "doctor: give the service's base URL after the flags, such as https://shop.example/chat-auth"}
	}
	report, err := doctor.Run(ctx, opts)
	if err != nil {
		return &usageError{msg: "doctor: " + err.Error()}
	}
	write := report.WriteText
	if *asJSON {
		write = report.WriteJSON
	}
	if err := write(env.stdout); err != nil {
		return err
	}
	if !report.OK {
		return errors.New("doctor: the deployment fails a check (see the ✗ lines)")
	}
	return nil
}
