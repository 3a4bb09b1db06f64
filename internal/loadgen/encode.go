package loadgen

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Encode writes one HTTP/1.1 request as the bytes the generator sends,
// once, before a run: method, the URL's path and query, a Host header, the
// given headers in sorted order, Content-Length when there is a body (or
// the method usually has one), then the body. It returns the address to
// dial (host:port) with it. Only http:// URLs: the generator speaks plain
// HTTP/1.1 to loopback servers.
func Encode(method, rawURL string, hdr http.Header, body []byte) (req []byte, addr string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("loadgen: %q: only http:// URLs", rawURL)
	}
	if u.Port() == "" {
		return nil, "", fmt.Errorf("loadgen: %q: the URL needs a port", rawURL)
	}
	if method == "" {
		return nil, "", errors.New("loadgen: empty method")
	}
	if method == http.MethodHead {
		// An answer to HEAD announces a length it does not send; the
		// reader frames every answer by its Content-Length.
		return nil, "", errors.New("loadgen: HEAD is not supported")
	}
	target := u.RequestURI()
	b := make([]byte, 0, 256+len(body))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, u.Host...)
	b = append(b, "\r\nUser-Agent: safereset-loadgen\r\n"...)
	names := make([]string, 0, len(hdr))
	for k := range hdr {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Host" || ck == "Content-Length" || ck == "Transfer-Encoding" || ck == "Connection" {
			return nil, "", fmt.Errorf("loadgen: header %s is set by the generator", ck)
		}
		for _, v := range hdr[k] {
			b = append(b, ck...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if len(body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	return b, u.Host, nil
}
