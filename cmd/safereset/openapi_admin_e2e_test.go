package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/safereset/safereset/server"
)

var (
	adminOAOnce   sync.Once
	adminOARouter routers.Router
	adminOAErr    error
)

// checkAdminOpenAPI validates a real ops-listener response against the
// document. The admin paths name the default ops listener as their server,
// so every server is dropped to match the test's random port.
func checkAdminOpenAPI(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	adminOAOnce.Do(func() {
		doc, err := server.OpenAPI()
		if err != nil {
			adminOAErr = err
			return
		}
		doc.Servers = nil
		for _, item := range doc.Paths.Map() {
			item.Servers = nil
		}
		adminOARouter, adminOAErr = legacy.NewRouter(doc)
	})
	if adminOAErr != nil {
		t.Fatal(adminOAErr)
	}
	route, params, err := adminOARouter.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s -> %d does not match the OpenAPI document: %v", req.Method, req.URL.Path, status, oneLineErr(err))
	}
}

// TestOpenAPI_AdminResponses: every admin route, driven through the real
// server, answers what the document says, successes and refusals alike.
func TestOpenAPI_AdminResponses(t *testing.T) {
	s := startServer(t, "")
	call := func(method, path, token, contentType, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, s.Admin+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
		}
		checkAdminOpenAPI(t, req, resp.StatusCode, resp.Header, b)
		return b
	}
	tok := s.Token
	js := "application/json"
	call("POST", "/admin/v1/users", tok, js, `{"emailAddress":"jane@example.com","password":"Old-Passw0rd-2024"}`, 201)
	call("POST", "/admin/v1/users", tok, js, `{"emailAddress":"jane@example.com","password":"Old-Passw0rd-2024"}`, 409)
	call("POST", "/admin/v1/users", tok, js, `{"emailAddress":"nope","password":"Old-Passw0rd-2024"}`, 400)
	call("POST", "/admin/v1/users", "wrong-token-wrong-token-wrong-token", js, `{}`, 401)
	call("POST", "/admin/v1/users/import", tok, "application/x-ndjson", "{\"emailAddress\":\"a@example.com\",\"password\":\"Old-Passw0rd-2024\"}\nnot json\n", 200)
	call("POST", "/admin/v1/users/verify", tok, js, `{"emailAddress":"jane@example.com","password":"Old-Passw0rd-2024"}`, 200)
	call("POST", "/admin/v1/users/verify", tok, js, `{"emailAddress":"ghost@example.com","password":"x"}`, 404)
	// Without a Content-Type the admin API decodes JSON as well.
	call("POST", "/admin/v1/users/delete", tok, "", `{"emailAddress":"a@example.com"}`, 204)
	call("POST", "/admin/v1/users/unlock", tok, js, `{"emailAddress":"jane@example.com"}`, 200)
	call("POST", "/admin/v1/users/unlock", tok, js, `{"emailAddress":"ghost@example.com"}`, 404)
	call("POST", "/admin/v1/users/unlock", tok, js, `{"emailAddress":"nope"}`, 400)
	call("POST", "/admin/v1/apikeys", tok, js, `{"name":"webshop"}`, 201)
	call("POST", "/admin/v1/apikeys", tok, js, `{"name":"bad name"}`, 400)
	call("GET", "/admin/v1/apikeys", tok, "", "", 200)
	call("DELETE", "/admin/v1/apikeys/nope", tok, "", "", 404)
	call("POST", "/admin/v1/jwt", tok, js, `{"subject":"webshop","ttl":"1h"}`, 200)
	call("POST", "/admin/v1/jwt", tok, js, `{"subject":"webshop","ttl":"never"}`, 400)
	call("POST", "/admin/v1/breach/reload", tok, "", "", 200)
	call("POST", "/admin/v1/breach/reload", tok, js, `{"path":"/does/not/exist"}`, 422)
	call("GET", "/admin/v1/backup", tok, "", "", 200)
	call("GET", "/admin/v1/audit", tok, "", "", 200)
	call("GET", "/admin/v1/audit?since=2026-01-01T00:00:00Z&after=1&limit=2", tok, "", "", 200)
	call("GET", "/admin/v1/audit?since=yesterday", tok, "", "", 400)
	call("GET", "/admin/v1/audit?limit=1001", tok, "", "", 400)
	call("GET", "/admin/v1/audit?after=-1", tok, "", "", 400)
	call("GET", "/admin/v1/audit", "wrong-token-wrong-token-wrong-token", "", "", 401)
	call("POST", "/admin/v1/admin-token/rotate", tok, js, `{"overlap":"99h"}`, 400)
	call("POST", "/admin/v1/admin-token/rotate", tok, js, `{"overlap":"1m"}`, 200)
}

// TestContentType_NotChecked: the reset routes decode the body as JSON
// whatever Content-Type says (the decision in the OpenAPI document): no
// header, text/plain and a form type get the same answers as
// application/json, for a valid and for an invalid body.
func TestContentType_NotChecked(t *testing.T) {
	s := startServer(t, "", "--rate-request-email", "0")
	key := s.apiKey("ct")
	send := func(method, contentType, body string) response {
		t.Helper()
		req, _ := http.NewRequest(method, s.Base+"/api/v1/user/reset-password", strings.NewReader(body))
		req.Header.Set("X-Api-Key", key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		r := response{resp.StatusCode, resp.Header, b}
		checkOpenAPI(t, req, r)
		return r
	}
	bad := `{"emailAddress":"nope","password":"short","passwordVerify":"other","token":""}`
	want := send("PATCH", "application/json", bad)
	if want.Status != 400 || len(want.Codes()) < 3 {
		t.Fatalf("baseline PATCH: %d %s", want.Status, want.Body)
	}
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"} {
		if r := send("POST", ct, `{"emailAddress":"jane@example.com"}`); r.Status != 202 {
			t.Errorf("POST with Content-Type %q: %d %s", ct, r.Status, r.Body)
		}
		if r := send("PATCH", ct, bad); r.Status != 400 || strings.Join(r.Codes(), ",") != strings.Join(want.Codes(), ",") {
			t.Errorf("PATCH with Content-Type %q: %d %v, want %v", ct, r.Status, r.Codes(), want.Codes())
		}
	}
}
