package httpapi

import (
	"net/http"
)

// OtherMethod stands for every method outside knownMethods wherever a method
// is recorded (metrics, span names, logs), after OpenTelemetry's convention:
// a client may send any token as a method, and each new value must not
// become a new series or an unbounded log field.
const OtherMethod = "_OTHER"

// knownMethods are the methods of RFC 9110 §9 (and PATCH, RFC 5789).
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
	http.MethodOptions: true, http.MethodConnect: true, http.MethodTrace: true,
}

// MethodLabel is the method as it may be recorded: itself when known,
// OtherMethod otherwise.
func MethodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return OtherMethod
}

// refuseUnknownMethods answers 501 to a method the service does not know,
// before any other middleware looks at the request.
func refuseUnknownMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !knownMethods[r.Method] {
			WriteProblem(w, r, newError(http.StatusNotImplemented, CodeMethodNotImplemented, nil,
				"the method is not implemented; use GET, POST or OPTIONS"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
