// Package web holds client.js, the script a site includes to hand the
// Omnichannel chat widget a token. It is embedded at build time, so the
// binary serves it with no configuration.
package web

import _ "embed"

// ClientJS is /client.js: the widget-side token provider for sites.
//
//go:embed client.js
var ClientJS []byte
