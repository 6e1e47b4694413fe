package backend

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
)

// The 200 page of a logon differs between requests of one user only by
// the client address (the port, on every new connection). Rendering it
// through html/template cost more than a third of a request's handler
// time, so the page is rendered once per distinct page with a placeholder
// for the address, kept split around it, and each request writes the two
// halves with its own address between them. The template stays the one
// source of the page: pageCache only remembers its output.

// remotePlaceholder stands for the client address while a page is
// rendered: plain letters, which html/template writes unchanged.
const remotePlaceholder = "krbfarmremoteaddressplaceholder"

// pageCacheMax bounds the pages remembered; past it the cache starts over.
const pageCacheMax = 256

// renderedPage is a rendered page without its client address: head, the
// address, tail.
type renderedPage struct{ head, tail []byte }

// pageCache holds rendered 200 pages keyed by their hostPage without
// Remote. Safe for concurrent use; the zero value is ready.
type pageCache struct {
	mu    sync.Mutex
	pages map[hostPage]renderedPage
}

func (c *pageCache) get(k hostPage) (renderedPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pages[k]
	return p, ok
}

func (c *pageCache) put(k hostPage, p renderedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pages == nil || len(c.pages) >= pageCacheMax {
		c.pages = make(map[hostPage]renderedPage)
	}
	c.pages[k] = p
}

// plainRemote reports whether html/template writes addr unchanged in
// text: digits, letters, '.', ':', '[', ']', '%', '-' and '_' (an IPv4 or
// IPv6 address with port and zone). Others go through the template.
func plainRemote(addr string) bool {
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case c == '.', c == ':', c == '[', c == ']', c == '%', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// renderAround renders page name for p with the placeholder as the client
// address and splits it there; false when the placeholder is not there
// exactly once (a value of p contains it).
func renderAround(name string, p hostPage) (renderedPage, bool) {
	p.Remote = remotePlaceholder
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, p); err != nil {
		return renderedPage{}, false
	}
	out := b.Bytes()
	if bytes.Count(out, []byte(remotePlaceholder)) != 1 {
		return renderedPage{}, false
	}
	i := bytes.Index(out, []byte(remotePlaceholder))
	return renderedPage{head: out[:i:i], tail: out[i+len(remotePlaceholder):]}, true
}

// writeOKPage answers 200 with the host's page for p: from the cache,
// rendering it first when it is not there, or through the template when
// it cannot be cached.
func (s *Site) writeOKPage(w http.ResponseWriter, p hostPage) {
	if !plainRemote(p.Remote) {
		s.writePage(w, "ok", http.StatusOK, p)
		return
	}
	key := p
	key.Remote = ""
	rp, ok := s.pages.get(key)
	if !ok {
		if rp, ok = renderAround("ok", key); !ok {
			s.writePage(w, "ok", http.StatusOK, p)
			return
		}
		s.pages.put(key, rp)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(rp.head)+len(p.Remote)+len(rp.tail)))
	w.WriteHeader(http.StatusOK)
	w.Write(rp.head)
	w.Write([]byte(p.Remote))
	w.Write(rp.tail)
}
