package server

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's OpenAPI 3 document; a test checks that it
// validates and that it names exactly the routes the server serves.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
