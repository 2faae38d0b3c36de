// Package web holds chattoken's static front end: client.js, the script a
// site includes to hand the chat widget a token, and the page of
// `chattoken dev` that signs
// a demo customer in, fetches a token the way the Omnichannel chat widget
// does, and shows it decoded and verified in the browser.
//
// The files are embedded at build time, so the binary serves them with no
// configuration. The page has no inline script or style and loads nothing
// from another origin, so it runs under the strict DevCSP; its URLs are all
// relative, so it also works under a path prefix.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dev
var embedded embed.FS

// ClientJS is /client.js: the widget-side token provider for sites.
//
//go:embed client.js
var ClientJS []byte

// Dev is the dev-mode page: index.html, app.js and style.css at its root.
var Dev fs.FS = mustSub(embedded, "dev")

// DevCSP is the Content-Security-Policy to send with every Dev file: scripts,
// styles and requests only from the page's own origin, nothing inline, no
// framing. img-src allows data: for the inline empty favicon.
const DevCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		// dir is a constant embedded at build time: this cannot happen.
		panic("web: " + err.Error())
	}
	return sub
}
