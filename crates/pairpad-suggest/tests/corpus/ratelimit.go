// Package ratelimit provides a token-bucket rate limiter and an HTTP
// middleware that applies it per client.
package ratelimit

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrLimitExceeded is returned when a client has no tokens left.
var ErrLimitExceeded = errors.New("rate limit exceeded")

// ErrInvalidConfig is returned by New when the configuration makes no sense.
var ErrInvalidConfig = errors.New("invalid rate limit config")

// Config controls how many requests a single client may make.
type Config struct {
	// Rate is the number of tokens added per second.
	Rate float64
	// Burst is the maximum number of tokens a bucket can hold.
	Burst int
	// IdleTTL is how long an unused bucket is kept before being evicted.
	IdleTTL time.Duration
	// TrustProxy makes the middleware read the client address from
	// X-Forwarded-For instead of the connection's remote address.
	TrustProxy bool
}

// Validate checks the config and fills in defaults.
func (c *Config) Validate() error {
	if c.Rate <= 0 {
		return fmt.Errorf("%w: rate must be positive, got %v", ErrInvalidConfig, c.Rate)
	}
	if c.Burst < 1 {
		return fmt.Errorf("%w: burst must be at least 1, got %d", ErrInvalidConfig, c.Burst)
	}
	if c.IdleTTL == 0 {
		c.IdleTTL = 10 * time.Minute
	}
	return nil
}

// Clock abstracts time so the limiter can be tested deterministically.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

type bucket struct {
	tokens   float64
	last     time.Time
	lastSeen time.Time
}

// Limiter keeps one token bucket per key.
type Limiter struct {
	cfg     Config
	clock   Clock
	mu      sync.Mutex
	buckets map[string]*bucket
	stop    chan struct{}
	once    sync.Once
}

// New creates a limiter and starts a background goroutine that evicts idle
// buckets. Call Close when the limiter is no longer needed.
func New(cfg Config) (*Limiter, error) {
	return NewWithClock(cfg, realClock{})
}

// NewWithClock is like New but uses the given clock.
func NewWithClock(cfg Config, clock Clock) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{
		cfg:     cfg,
		clock:   clock,
		buckets: make(map[string]*bucket),
		stop:    make(chan struct{}),
	}
	go l.janitor()
	return l, nil
}

// Close stops the background cleanup goroutine.
func (l *Limiter) Close() {
	l.once.Do(func() { close(l.stop) })
}

// Allow reports whether a request for key may proceed now. It returns the
// number of tokens remaining and, if denied, how long to wait before retrying.
func (l *Limiter) Allow(key string) (remaining int, retryAfter time.Duration, err error) {
	now := l.clock.Now()

	l.mu.Lock()
	defer l.mu.Unlock()

	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[key] = b
	}
	b.lastSeen = now

	elapsed := now.Sub(b.last).Seconds()
	if elapsed > 0 {
		b.tokens += elapsed * l.cfg.Rate
		if capacity := float64(l.cfg.Burst); b.tokens > capacity {
			b.tokens = capacity
		}
		b.last = now
	}

	if b.tokens < 1 {
		missing := 1 - b.tokens
		wait := time.Duration(missing / l.cfg.Rate * float64(time.Second))
		return 0, wait, ErrLimitExceeded
	}
	b.tokens--
	return int(b.tokens), 0, nil
}

// Len returns the number of tracked keys.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) janitor() {
	interval := l.cfg.IdleTTL / 2
	if interval < time.Second {
		interval = time.Second
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			l.evictIdle()
		case <-l.stop:
			return
		}
	}
}

func (l *Limiter) evictIdle() {
	cutoff := l.clock.Now().Add(-l.cfg.IdleTTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, b := range l.buckets {
		if b.lastSeen.Before(cutoff) {
			delete(l.buckets, key)
		}
	}
}

// KeyFunc extracts the rate-limit key from a request.
type KeyFunc func(r *http.Request) (string, error)

// ClientIP returns a KeyFunc that keys on the client's IP address.
func ClientIP(trustProxy bool) KeyFunc {
	return func(r *http.Request) (string, error) {
		if trustProxy {
			if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
				// The first entry is the original client.
				first := strings.TrimSpace(strings.Split(fwd, ",")[0])
				if ip := net.ParseIP(first); ip != nil {
					return ip.String(), nil
				}
			}
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return "", fmt.Errorf("parse remote addr %q: %w", r.RemoteAddr, err)
		}
		return host, nil
	}
}

// APIKey keys on a header value, falling back to the client IP.
func APIKey(header string, fallback KeyFunc) KeyFunc {
	return func(r *http.Request) (string, error) {
		if v := strings.TrimSpace(r.Header.Get(header)); v != "" {
			return "key:" + v, nil
		}
		return fallback(r)
	}
}

// Middleware wraps handlers with rate limiting.
type Middleware struct {
	limiter *Limiter
	keyFn   KeyFunc
	logger  *log.Logger
	// OnLimited, if set, is called instead of writing the default 429 response.
	OnLimited func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)
}

// NewMiddleware builds a middleware around an existing limiter.
func NewMiddleware(l *Limiter, keyFn KeyFunc, logger *log.Logger) *Middleware {
	if keyFn == nil {
		keyFn = ClientIP(l.cfg.TrustProxy)
	}
	if logger == nil {
		logger = log.Default()
	}
	return &Middleware{limiter: l, keyFn: keyFn, logger: logger}
}

// Handler returns an http.Handler that enforces the limit before calling next.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := m.keyFn(r)
		if err != nil {
			m.logger.Printf("ratelimit: cannot determine key: %v", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}

		remaining, retryAfter, err := m.limiter.Allow(key)
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(m.limiter.cfg.Burst))
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))

		if errors.Is(err, ErrLimitExceeded) {
			secs := int(retryAfter.Seconds() + 0.999)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			if m.OnLimited != nil {
				m.OnLimited(w, r, retryAfter)
				return
			}
			m.logger.Printf("ratelimit: %s %s denied for %s", r.Method, r.URL.Path, key)
			http.Error(w, ErrLimitExceeded.Error(), http.StatusTooManyRequests)
			return
		}
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder captures the status code written by a handler.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Logging is a small access-log middleware, useful in front of the limiter.
func Logging(logger *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.Printf("%s %s %d %s", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Millisecond))
	})
}

// ExampleServer wires everything together; it is what cmd/limitdemo runs.
func ExampleServer(addr string) error {
	limiter, err := New(Config{Rate: 5, Burst: 10, TrustProxy: true})
	if err != nil {
		return fmt.Errorf("create limiter: %w", err)
	}
	defer limiter.Close()

	logger := log.New(log.Writer(), "[demo] ", log.LstdFlags)
	mw := NewMiddleware(limiter, APIKey("X-API-Key", ClientIP(true)), logger)

	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "world"
		}
		fmt.Fprintf(w, "hello, %s\n", name)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tracked clients: %d\n", limiter.Len())
	})

	srv := &http.Server{
		Addr:         addr,
		Handler:      Logging(logger, mw.Handler(mux)),
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 10 * time.Second,
	}
	logger.Printf("listening on %s", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
